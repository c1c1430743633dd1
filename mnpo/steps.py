"""One typed function per workflow rule: the only place that maps paths to library calls.

``workflow/scripts/<rule>.py`` unpacks Snakemake's object and calls the function of the same
name; ``mnpo.cli`` calls the same functions from the command line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mnpo.data.manifest import DatasetManifest, read_manifest, write_manifest
from mnpo.data.metadata import Metadata
from mnpo.io import atomic_open, write_json, write_text

log = logging.getLogger(__name__)


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    """``sys.excepthook``: the error that ends a step goes to its log file too."""
    log.error("%s: %s", kind.__name__, error, exc_info=(kind, error, tb))


def setup_logging(path: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Timestamped log lines to ``path`` (a rule's log file) and to standard error.

    An uncaught exception is logged as well, so a failed job's log names its cause.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    sys.excepthook = _log_uncaught


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for torch (what Snakemake granted the job)."""
    import torch

    torch.set_num_threads(max(1, int(threads)))


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` to a temporary file, then rename (atomic)."""
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, decompressed once (never index the NpzFile in loops)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# ----------------------------------------------------------------------------- prepare_dataset
def prepare_dataset(name: str, spec: Mapping[str, Any], out_dir: str | os.PathLike) -> Path:
    """Build dataset ``name`` under ``out_dir`` and write its manifest ``dataset.json``.

    ``synthetic`` is generated (seeded, deterministic); its images, masks and metadata land in
    ``out_dir``. ``cub``, ``ilsvrc`` and ``openimages`` are converted from the local folder
    ``spec["root"]`` (never downloaded, no image copied): metadata and ``report.json`` land in
    ``out_dir/metadata`` and the manifest points at the dataset's own folders
    (docs/datasets.md). ``photos`` copies the photographs shipped in installed packages into
    ``out_dir/images`` and their hand-made annotations into ``out_dir/metadata``
    (``mnpo.data.photos``). Returns the manifest path.
    """
    from mnpo.data.prepare import KINDS
    from mnpo.data.synthetic import SyntheticConfig, class_names, generate_synthetic

    root = Path(out_dir)
    kind = spec["kind"]
    if kind in KINDS:
        return _save_manifest(root, _convert_dataset(name, spec, root / "metadata"))
    if kind == "photos":
        return _save_manifest(root, _export_photos(name, spec, root))
    if kind != "synthetic":
        raise ValueError(f"dataset {name!r}: unknown kind {kind!r}")
    config = SyntheticConfig.from_dict({**spec["generator"], "num_classes": spec["num_classes"]})
    generate_synthetic(root, config)
    manifest = DatasetManifest(
        name=name,
        kind=kind,
        num_classes=int(spec["num_classes"]),
        image_root=str(root / "images"),
        mask_root=str(root / "masks"),
        metadata={split: str(root / "metadata" / split) for split in config.images_per_class},
        class_names=class_names(config),
    )
    return _save_manifest(root, manifest)


def _convert_dataset(name: str, spec: Mapping[str, Any], metadata_dir: Path) -> DatasetManifest:
    """Convert ``spec["root"]`` into ``metadata_dir``; the manifest points at its own folders."""
    from mnpo.data.prepare import convert, write_prepared

    prepared = convert(spec["kind"], spec)
    if prepared.num_classes != int(spec["num_classes"]):
        raise ValueError(
            f"dataset {name!r}: {spec['root']} holds {prepared.num_classes} classes but the "
            f"config says num_classes: {spec['num_classes']}"
        )
    write_prepared(metadata_dir, prepared)
    return DatasetManifest(
        name=name,
        kind=prepared.kind,
        num_classes=prepared.num_classes,
        image_root=str(prepared.image_root),
        mask_root=None if prepared.mask_root is None else str(prepared.mask_root),
        metadata={split: str(metadata_dir / split) for split in prepared.splits},
        class_names=prepared.class_names,
    )


def _export_photos(name: str, spec: Mapping[str, Any], root: Path) -> DatasetManifest:
    """Export the ``photos`` set into ``root``; its labels are ImageNet-1k class indices."""
    from mnpo.data.photos import IMAGENET_CLASSES, export_photos, imagenet_class_names

    if int(spec["num_classes"]) != IMAGENET_CLASSES:
        raise ValueError(
            f"dataset {name!r}: photos are labelled with ImageNet-1k classes, so num_classes "
            f"must be {IMAGENET_CLASSES}, not {spec['num_classes']}"
        )
    folders = export_photos(root)
    return DatasetManifest(
        name=name,
        kind="photos",
        num_classes=IMAGENET_CLASSES,
        image_root=str(root / "images"),
        metadata={split: str(folder) for split, folder in folders.items()},
        class_names=imagenet_class_names(),
    )


def _save_manifest(root: Path, manifest: DatasetManifest) -> Path:
    """Write ``root/dataset.json``; log each split's size (read back and validated)."""
    path = root / "dataset.json"
    write_manifest(path, manifest)
    for split in manifest.metadata:
        log.info("%s/%s: %d images", manifest.name, split, len(manifest.split(split)))
    return path


# ----------------------------------------------------------------------------- stage_weights
def stage_weights(
    backbone: str,
    configured: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    required: bool,
) -> dict[str, Any]:
    """Resolve, checksum and stage ``backbone``'s ImageNet weights into ``out_dir``
    (``mnpo.models.staging``); training jobs read only that folder."""
    from mnpo.models.staging import stage_weights as stage

    return stage(backbone, configured, out_dir, required=required)


# ----------------------------------------------------------------------------- stage_pretrained
def stage_pretrained(
    model_spec: Mapping[str, Any],
    dataset_spec: Mapping[str, Any],
    seed: int,
    staged: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike],
) -> None:
    """Write a ``pretrained: imagenet`` model's ImageNet classifier as its ``best`` and ``last``
    checkpoints (the format of a trained model's, epoch 0, no validation), so that every later
    rule treats it as trained. Its stages and 1000-way FC are mapped strictly from the weights
    file the ``stage_weights`` rule put in ``staged``; nothing is trained.

    Raises:
        WeightsError: no weights staged, a backbone that changes the ImageNet network, or a
            file that does not match it.
    """
    from mnpo.models import IMAGENET_CLASSES, WeightsError, build_imagenet_classifier
    from mnpo.models.staging import staged_weights
    from mnpo.train.checkpoint import provenance, save_checkpoint

    backbone = model_spec["backbone"]
    weights = staged_weights(staged)
    if weights is None:
        raise WeightsError(f"{staged}: no ImageNet weights of {backbone} staged")
    model = build_imagenet_classifier(backbone, weights)
    payload = {
        "model": {
            "backbone": backbone,
            "head": model.head,
            "num_classes": IMAGENET_CLASSES,
            "input_size": int(dataset_spec["input_size"]),
        },
        "state_dict": model.state_dict(),
        "epoch": 0,
        "seed": seed,
        "val": {},
        "provenance": {**provenance("cpu"), "weights": str(weights)},
    }
    for key in ("best", "last"):
        save_checkpoint(outputs[key], payload)
    log.info("%s ImageNet classifier from %s, not trained", backbone, weights)


# ----------------------------------------------------------------------------- shared loading
def _dataset(manifest: DatasetManifest, split: str, transform: Any) -> tuple[Metadata, Any]:
    from mnpo.data.datasets import WSOLDataset, check_images

    metadata = manifest.split(split)
    check_images(metadata, Path(manifest.image_root))
    return metadata, WSOLDataset(metadata, Path(manifest.image_root), transform)


def load_trained_model(checkpoint: str | os.PathLike, device: Any) -> Any:
    """Rebuild the network of a checkpoint (no ImageNet file needed) and load it strictly.

    ``device``: the ``torch.device`` to put it on. The model is in channels-last memory
    format (faster convolutions on CPU and GPU; feed it channels-last images).
    """
    import torch

    from mnpo.models import WSOLNet
    from mnpo.train.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    cfg = state["model"]
    model = WSOLNet(cfg["backbone"], int(cfg["num_classes"]), cfg.get("head", "cam"))
    model.load_state_dict(state["state_dict"], strict=True)
    return model.to(device).to(memory_format=torch.channels_last).eval()


# ----------------------------------------------------------------------------- train_model
def train_model(
    manifest_path: str | os.PathLike,
    dataset_spec: Mapping[str, Any],
    model_spec: Mapping[str, Any],
    seed: int,
    outputs: Mapping[str, str | os.PathLike],
    threads: int = 1,
    init_checkpoint: str | os.PathLike | None = None,
    staged: str | os.PathLike | None = None,
    performance: Mapping[str, Any] | None = None,
) -> None:
    """Train one (dataset, model, seed) cell; writes ``best``, ``last`` and ``history``.

    The schedule is the dataset's ``train`` mapping updated by the model's ``train`` overrides.
    With ``init_checkpoint`` (config ``init_from``: a trained CAM model of the same dataset and
    seed) the backbone and FC start from it and only the branch is new; its backbone counts as
    pretrained (trained at ``lr``). Otherwise the ImageNet weights come from the ``staged``
    folder of the ``stage_weights`` rule when given, else are resolved here.

    ``performance`` (config ``performance``) sets precision, memory format, optimiser kernel and
    compilation; with ``gpus`` N > 1 this call starts N processes under torchrun, each of which
    runs this function as one rank of a DDP run (``mnpo.train.distributed``).
    """
    job = dict(locals())  # this call's arguments: what every torchrun process runs again
    from mnpo.data.datasets import make_loader
    from mnpo.data.transforms import eval_transform, train_transform
    from mnpo.models import WSOLNet, build_model, init_from_trained, resolve_imagenet_weights
    from mnpo.models.staging import staged_weights
    from mnpo.train.checkpoint import load_checkpoint
    from mnpo.train.distributed import launch, world_from_env
    from mnpo.train.loop import TrainingOutputs, fit, pick_device, seed_everything
    from mnpo.train.optim import model_schedule
    from mnpo.train.performance import Performance, loader_workers
    from mnpo.train.sampling import per_rank_batch, train_loader

    settings = Performance.from_dict(performance)
    schedule = model_schedule(dict(dataset_spec["train"]), model_spec.get("train"))
    world = world_from_env()
    if settings.gpus > 1 and not world.distributed:
        per_rank_batch(schedule.batch_size, settings.gpus)
        launch(job, settings.gpus, threads)
        return
    set_threads(max(1, threads // world.size))
    manifest = read_manifest(manifest_path)
    size, resize = int(dataset_spec["input_size"]), int(dataset_spec["resize_size"])
    backbone, head = model_spec["backbone"], model_spec["head"]
    seed_everything(seed)
    if init_checkpoint is not None:
        model = WSOLNet(backbone, manifest.num_classes, head)
        state = load_checkpoint(init_checkpoint)["state_dict"]
        init_from_trained(model, state, str(init_checkpoint))
        source, from_scratch = f"trained model {init_checkpoint}", False
    else:
        weights = (
            staged_weights(staged)
            if staged is not None
            else resolve_imagenet_weights(backbone, model_spec.get("weights"))
        )
        if weights is None and staged is not None:
            # staged as "from scratch": stage_weights checked every model may train so
            model = WSOLNet(backbone, manifest.num_classes, head)
        else:
            model = build_model(
                backbone,
                manifest.num_classes,
                head=head,
                weights=weights,
                allow_scratch=bool(model_spec.get("allow_scratch", False)),
            )
        source = f"ImageNet weights {weights}" if weights else "from scratch"
        from_scratch = weights is None
    log.info("%s-%s on %s, seed %d, %s", backbone, head, manifest.name, seed, source)
    _, train_set = _dataset(manifest, "train", train_transform(size, resize))
    val_meta, val_set = _dataset(manifest, "val", eval_transform(size))
    device = pick_device()
    workers = loader_workers(schedule.workers, device, threads, world.size)
    pin = settings.pin_memory and device.type == "cuda"

    def epoch_loader(loader_seed: int) -> Any:
        return train_loader(
            train_set,
            schedule.batch_size,
            seed=loader_seed,
            rank=world.rank,
            ranks=world.size,
            workers=workers,
            pin_memory=pin,
        )

    val_loader = make_loader(
        val_set, schedule.batch_size, shuffle=False, seed=seed, workers=workers, pin_memory=pin
    )

    def localization(ids: list[str], maps: np.ndarray) -> float:
        return gt_known_accuracy(val_meta, ids, maps, size=size)

    model_config = {
        "backbone": backbone,
        "head": head,
        "num_classes": manifest.num_classes,
        "input_size": size,
    }
    fit(
        model,
        schedule=schedule,
        seed=seed,
        from_scratch=from_scratch,
        train_loader=epoch_loader,
        val_loader=val_loader,
        val_ids=list(val_meta.image_ids),
        localization=localization,
        outputs=TrainingOutputs(
            best=Path(outputs["best"]), last=Path(outputs["last"]), history=Path(outputs["history"])
        ),
        model_config=model_config,
        device=device,
        settings=settings,
        world=world,
    )


def gt_known_accuracy(
    metadata: Metadata, ids: Sequence[str], maps: np.ndarray, *, size: int
) -> float:
    """GT-known MaxBoxAcc (%) at IoU 50, largest contour, thresholds at 0.01 (the val meter).

    In-process (``workers=1``): it runs inside the training process, which must not fork.
    """
    from mnpo.metrics.evaluator import evaluate_scoremaps

    result = evaluate_scoremaps(
        metadata,
        zip(ids, maps, strict=True),
        protocol="wsoleval",
        cam_curve_interval=0.01,
        iou_thresholds=(50,),
        multi_contour=False,
        size=size,
        raw=True,
        workers=1,
    )
    return float(result["max_box_acc"]["50"])


# ----------------------------------------------------------------------------- compute_logits
def compute_logits(
    manifest_path: str | os.PathLike,
    checkpoint: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike],
    dataset_spec: Mapping[str, Any],
    batch_size: int = 32,
    threads: int = 1,
    tencrop_splits: Collection[str] | None = None,
) -> None:
    """Classification logits of one trained model, per split (shared by all variants).

    ``outputs``: split -> npz path. Each file holds ``image_ids``, ``labels``, ``logits``
    (single ``input_size`` resize, the wsoleval protocol) and, on ``tencrop_splits`` (None:
    every split), ``logits_tencrop`` (mean over TenCrop views of a ``resize_size`` resize, the
    paper protocol; ten forward passes per image), all in metadata order. The model is loaded
    once for every split. ``batch_size`` counts network inputs, so a ten-crop batch holds
    ``batch_size // 10`` images: one forward of 32 x 10 views cost EfficientNet-Lite0 2.7x
    the time of twenty of 16 (large activations are fresh ``mmap`` pages each call).
    """
    import torch

    from mnpo.data.datasets import make_loader
    from mnpo.data.transforms import TENCROP_VIEWS, eval_transform, tencrop_transform
    from mnpo.train.loop import pick_device

    set_threads(threads)
    device = pick_device()
    manifest = read_manifest(manifest_path)
    model = load_trained_model(checkpoint, device)
    size, resize = int(dataset_spec["input_size"]), int(dataset_spec["resize_size"])
    for split, out_path in outputs.items():
        results: dict[str, np.ndarray] = {}
        transforms = {"logits": (eval_transform(size), batch_size)}
        if tencrop_splits is None or split in tencrop_splits:
            transforms["logits_tencrop"] = (
                tencrop_transform(size, resize),
                max(1, batch_size // TENCROP_VIEWS),
            )
        for key, (transform, images_per_batch) in transforms.items():
            metadata, dataset = _dataset(manifest, split, transform)
            loader = make_loader(dataset, images_per_batch, shuffle=False, seed=0, workers=0)
            chunks = []
            with torch.inference_mode():
                for images, _, _ in loader:
                    views = images.shape[1] if images.ndim == 5 else 1
                    inputs = images.reshape(-1, *images.shape[-3:]).to(device)
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
                    logits = model(inputs, branch=False).logits.float()
                    chunks.append(logits.unflatten(0, (-1, views)).mean(1).cpu())
            results[key] = torch.cat(chunks).numpy()
        save_npz(
            out_path,
            image_ids=np.asarray(metadata.image_ids),
            labels=np.asarray(metadata.labels(), dtype=np.int64),
            **results,
        )


# ----------------------------------------------------------------------------- extract_cams
def extract_cams(
    manifest_path: str | os.PathLike,
    checkpoint: str | os.PathLike,
    dataset_spec: Mapping[str, Any],
    jobs: Sequence[tuple[str, Mapping[str, Any], str | os.PathLike]],
    batch_size: int = 32,
    threads: int = 1,
) -> None:
    """Score maps of the ground-truth class, for several (split, variant spec, npz path) jobs.

    The model is loaded once, and per split and batch one forward pass is shared by all
    variants. Each npz holds ``image_ids`` (metadata order), ``labels`` and ``maps`` (N, h, w)
    as the variant returns them: float32 at the feature (or MNPOs layer) resolution, or float64
    at the input size for MNPO's fused maps; the evaluator upsamples (if needed) and normalises
    them. Variants that need gradients (MNPOs) run their own forward pass with autograd on.
    """
    import torch
    from tqdm import tqdm

    from mnpo.cams.registry import resolve_variant
    from mnpo.data.datasets import make_loader
    from mnpo.data.transforms import eval_transform
    from mnpo.train.loop import pick_device

    set_threads(threads)
    device = pick_device()
    manifest = read_manifest(manifest_path)
    model = load_trained_model(checkpoint, device)
    transform = eval_transform(int(dataset_spec["input_size"]))
    for split in dict.fromkeys(split for split, _, _ in jobs):
        chosen = [(resolve_variant(dict(spec)), path) for s, spec, path in jobs if s == split]
        metadata, dataset = _dataset(manifest, split, transform)
        loader = make_loader(dataset, batch_size, shuffle=False, seed=0, workers=0)
        maps: list[list[Any]] = [[] for _ in chosen]
        for images, labels, _ in tqdm(loader, desc=f"maps {split}", disable=None):
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            labels = labels.to(device)
            with torch.no_grad():
                output = model(images)
            for store, (map_fn, _) in zip(maps, chosen, strict=True):
                store.append(map_fn(model, output, images, labels).cpu())
        for store, (_, path) in zip(maps, chosen, strict=True):
            save_npz(
                path,
                image_ids=np.asarray(metadata.image_ids),
                labels=np.asarray(metadata.labels(), dtype=np.int64),
                maps=torch.cat(store).numpy(),
            )


# ----------------------------------------------------------------------------- evaluate
def _in_metadata_order(
    arrays: Mapping[str, np.ndarray], metadata: Metadata, path: str | os.PathLike, key: str
) -> np.ndarray:
    """``arrays[key]`` reordered to the metadata's image order (by the stored ``image_ids``)."""
    position = {str(i): n for n, i in enumerate(arrays["image_ids"])}
    missing = [i for i in metadata.image_ids if i not in position]
    if missing:
        raise ValueError(f"{path}: no {key} for image id {missing[0]!r} ({len(missing)} missing)")
    return arrays[key][[position[i] for i in metadata.image_ids]]


def evaluate_runs(
    manifest_path: str | os.PathLike,
    runs: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    out_paths: Sequence[str | os.PathLike],
) -> None:
    """Evaluate several runs in one process, each one split's score maps under one protocol,
    writing ``out_paths`` in order (flat JSONs carrying each run's ``keys``).

    Each run holds ``cams`` and ``logits`` paths and its ``keys`` (``split``, ``protocol``, ...).
    ``paper`` classifies with the ten-crop logits (GT-known only on a split without them),
    ``wsoleval`` with the single-resize logits; PxAP is computed under ``wsoleval`` when the
    split has masks. The manifest, each split's metadata and each npz file are read once.
    """
    manifest = read_manifest(manifest_path)
    metadata: dict[str, Metadata] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for run, out_path in zip(runs, out_paths, strict=True):
        split = run["keys"]["split"]
        if split not in metadata:
            metadata[split] = manifest.split(split)
        for path in (str(run["cams"]), str(run["logits"])):
            if path not in arrays:
                arrays[path] = load_npz(path)
        _evaluate_run(manifest, metadata[split], arrays, run, settings, out_path)


def _evaluate_run(
    manifest: DatasetManifest,
    metadata: Metadata,
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    run: Mapping[str, Any],
    settings: Mapping[str, Any],
    out_path: str | os.PathLike,
) -> None:
    """One run of ``evaluate_runs``, its npz files already loaded in ``arrays`` (path -> arrays)."""
    from mnpo.metrics.evaluator import evaluate_scoremaps

    keys, logits_path = run["keys"], str(run["logits"])
    protocol = keys["protocol"]
    cams, logits = arrays[str(run["cams"])], arrays[logits_path]
    logit_key = "logits_tencrop" if protocol == "paper" else "logits"
    if logit_key not in logits:
        log.info("%s: no %s, so %s reports GT-known only", logits_path, logit_key, protocol)
    use_masks = protocol == "wsoleval" and metadata.has_masks and manifest.mask_root is not None
    result = evaluate_scoremaps(
        metadata,
        zip((str(i) for i in cams["image_ids"]), cams["maps"], strict=True),
        protocol=protocol,
        cam_curve_interval=float(settings["cam_curve_interval"]),
        iou_thresholds=tuple(int(t) for t in settings["iou_thresholds"]),
        logits=(
            _in_metadata_order(logits, metadata, logits_path, logit_key)
            if logit_key in logits
            else None
        ),
        mask_root=Path(manifest.mask_root) if use_masks else None,
        size=int(settings["size"]),
        raw=True,
        workers=1,
    )
    result.update(keys)
    write_json(out_path, result)


# ----------------------------------------------------------------------------- aggregate_metrics
def aggregate_metrics(
    metric_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike
) -> None:
    """All metric JSONs -> ``metrics.csv`` (long format) and ``metrics.parquet`` beside it."""
    from mnpo.report.aggregate import long_table

    frame = long_table(metric_paths)
    target = Path(out_csv)
    write_text(target, frame.to_csv(index=False))
    with atomic_open(target.with_suffix(".parquet"), "wb") as handle:
        frame.to_parquet(handle, index=False)
    log.info("%d numbers from %d metric files", len(frame), len(metric_paths))


# ----------------------------------------------------------------------------- make_tables
def make_tables(
    metrics_csv: str | os.PathLike,
    name: str,
    spec: Mapping[str, Any],
    outputs: Mapping[str, str | os.PathLike],
) -> None:
    """One paper-layout table (``md``, ``csv``, ``tex``) from ``metrics.csv``."""
    import pandas as pd

    from mnpo.report.tables import write_table

    table = write_table(pd.read_csv(metrics_csv), name, spec, outputs)
    log.info("table %s: %d rows", name, len(table))


# ----------------------------------------------------------------------------- plot_figures
def plot_figures(
    manifest_path: str | os.PathLike,
    metric_paths: Sequence[str | os.PathLike],
    cams_paths: Sequence[str | os.PathLike],
    settings: Mapping[str, Any],
    outputs: Mapping[str, str | os.PathLike],
) -> None:
    """CAM comparison grid and threshold curves of one dataset (PNG + PDF each)."""
    from mnpo.report.figures import plot_cam_grid, plot_threshold_curves

    manifest = read_manifest(manifest_path)
    plot_threshold_curves(metric_paths, outputs["curves"], outputs["curves_pdf"])
    plot_cam_grid(
        manifest,
        cams_paths,
        metric_paths,
        int(settings["num_images"]),
        outputs["cam_grid"],
        outputs["cam_grid_pdf"],
    )


# ----------------------------------------------------------------------------- export_scoremaps
def export_scoremaps(cams_path: str | os.PathLike, size: int, out_dir: str | os.PathLike) -> int:
    """Write each map of a cams ``.npz`` as ``<out_dir>/<image_id>.npy`` (wsolevaluation format:
    float64, bicubic-resized to ``size`` x ``size``, min-max normalised). Returns the count."""
    from mnpo.metrics.scoremaps import cam_to_scoremap

    cams = load_npz(cams_path)
    root = Path(out_dir)
    for image_id, cam in zip(cams["image_ids"], cams["maps"], strict=True):
        with atomic_open(root / f"{image_id}.npy", "wb") as handle:
            np.save(handle, cam_to_scoremap(cam, size))
    return len(cams["image_ids"])
