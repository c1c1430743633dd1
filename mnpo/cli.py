"""``mnpo``: the workflow's steps from the command line (outside Snakemake too).

    mnpo prepare  --config CFG --dataset D [--out DIR]
    mnpo prepare  cub|ilsvrc|openimages --root DIR --out DIR [...]  (official layout -> metadata)
    mnpo train    --config CFG --dataset D --model M --seed S [--out DIR]
    mnpo logits   --config CFG --dataset D --checkpoint PT --split S --out NPZ
    mnpo cams     --config CFG --dataset D --checkpoint PT --method M --variant V --split S
                  --out NPZ
    mnpo evaluate --metadata DIR --scoremaps DIR --out JSON [...]   (any method's score maps)
    mnpo export-scoremaps --cams NPZ --size N --out DIR             (wsolevaluation .npy files)
    mnpo grid     --config CFG                                      (list the grid's runs)

Every command validates the config against the workflow's schema (defaults filled in, unknown
keys rejected) and writes the same files as the corresponding rule. Bad input ends with one
message and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from mnpo import grid

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config file that cannot be read or does not satisfy the schema."""


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config and validate it with the workflow's schema (defaults filled in)."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    target = Path(path)
    try:
        config = yaml.safe_load(target.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{target}: cannot read config ({err})") from err
    try:
        validate(config, schema=str(SCHEMA))
    except WorkflowError as err:
        raise ConfigError(f"{target}: invalid config: {err}") from err
    return config


def _pick(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    if name not in config[section]:
        raise ConfigError(f"no {section[:-1]} {name!r} in config; known: {sorted(config[section])}")
    return config[section][name]


def _prepare(args: argparse.Namespace) -> None:
    from mnpo import steps

    if args.layout is not None:
        from mnpo.data.prepare import command

        command.run(args)
        return
    if args.config is None or args.dataset is None:
        raise ConfigError(
            "mnpo prepare needs --config and --dataset, or a layout: "
            "mnpo prepare {cub,ilsvrc,openimages} --root DIR --out DIR"
        )
    config = load_config(args.config)
    out = args.out or Path(grid.RESULTS) / "data" / args.dataset
    steps.prepare_dataset(args.dataset, _pick(config, "datasets", args.dataset), out)


def _train(args: argparse.Namespace) -> None:
    from mnpo import steps

    config = load_config(args.config)
    run = grid.TrainRun(args.dataset, args.model, args.seed)
    out = Path(args.out or run.model_dir)
    steps.train_model(
        _manifest(args),
        _pick(config, "datasets", args.dataset),
        _pick(config, "models", args.model),
        args.seed,
        {"best": out / "best.pt", "last": out / "last.pt", "history": out / "history.csv"},
        threads=args.threads,
        performance=config["performance"],
    )


def _manifest(args: argparse.Namespace) -> Path:
    return Path(args.manifest or Path(grid.RESULTS) / "data" / args.dataset / "dataset.json")


def _logits(args: argparse.Namespace) -> None:
    from mnpo import steps

    config = load_config(args.config)
    steps.compute_logits(
        _manifest(args),
        args.checkpoint,
        {args.split: args.out},
        _pick(config, "datasets", args.dataset),
        batch_size=config["evaluation"]["batch_size"],
        threads=args.threads,
    )


def _cams(args: argparse.Namespace) -> None:
    from mnpo import steps

    config = load_config(args.config)
    method = _pick(config, "methods", args.method)
    if args.variant not in method["variants"]:
        raise ConfigError(f"method {args.method!r} has no variant {args.variant!r}")
    steps.extract_cams(
        _manifest(args),
        args.checkpoint,
        _pick(config, "datasets", args.dataset),
        [(args.split, grid.variant_spec(config, args.method, args.variant), args.out)],
        batch_size=config["evaluation"]["batch_size"],
        threads=args.threads,
    )


def _export(args: argparse.Namespace) -> None:
    from mnpo import steps

    steps.export_scoremaps(args.cams, args.size, args.out)


def _grid(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    lines = [f"train {r.dataset} {r.model} seed{r.seed}" for r in grid.train_runs(config)]
    lines += [f"metrics {path}" for path in grid.metric_files(config)]
    sys.stdout.write("\n".join(lines) + "\n")


def _evaluate(args: argparse.Namespace) -> int:
    from mnpo.metrics import command

    return command.run(args)


def _add_common(
    parser: argparse.ArgumentParser, *, dataset: bool = True, required: bool = True
) -> None:
    parser.add_argument("--config", required=required, type=Path, help="YAML config (validated)")
    if dataset:
        parser.add_argument("--dataset", required=required, help="dataset name in the config")
        parser.add_argument("--manifest", type=Path, help="dataset.json (default: results/data)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")


def build_parser() -> argparse.ArgumentParser:
    """The ``mnpo`` argument parser with one sub-command per step."""
    from mnpo.data.prepare import command as prepare_command
    from mnpo.metrics import command

    parser = argparse.ArgumentParser(prog="mnpo", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    prepare = sub.add_parser("prepare", help="generate or convert a dataset")
    _add_common(prepare, required=False)
    prepare.add_argument("--out", type=Path, help="output folder (default results/data/D)")
    prepare_command.add_layouts(prepare)
    prepare.set_defaults(func=_prepare)

    train = sub.add_parser("train", help="train one (dataset, model, seed)")
    _add_common(train)
    train.add_argument("--model", required=True)
    train.add_argument("--seed", required=True, type=int)
    train.add_argument("--out", type=Path, help="model folder (default results/models/...)")
    train.set_defaults(func=_train)

    logits = sub.add_parser("logits", help="classification logits of a split")
    _add_common(logits)
    logits.add_argument("--checkpoint", required=True, type=Path)
    logits.add_argument("--split", required=True)
    logits.add_argument("--out", required=True, type=Path)
    logits.set_defaults(func=_logits)

    cams = sub.add_parser("cams", help="score maps of one method variant on a split")
    _add_common(cams)
    cams.add_argument("--checkpoint", required=True, type=Path)
    cams.add_argument("--method", required=True)
    cams.add_argument("--variant", required=True)
    cams.add_argument("--split", required=True)
    cams.add_argument("--out", required=True, type=Path)
    cams.set_defaults(func=_cams)

    evaluate = sub.add_parser("evaluate", help="score a folder of score maps (.npy per image)")
    command.add_arguments(evaluate)
    evaluate.set_defaults(func=_evaluate)

    export = sub.add_parser(
        "export-scoremaps", help="write a cams .npz as wsolevaluation .npy score maps"
    )
    export.add_argument("--cams", required=True, type=Path)
    export.add_argument("--size", required=True, type=int, help="evaluation size (e.g. 224)")
    export.add_argument("--out", required=True, type=Path)
    export.set_defaults(func=_export)

    grid_cmd = sub.add_parser("grid", help="list the runs and metric files of a config")
    _add_common(grid_cmd, dataset=False)
    grid_cmd.set_defaults(func=_grid)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mnpo`` command; returns the exit code."""
    from mnpo.steps import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    func: Callable[[argparse.Namespace], int | None] = args.func
    try:
        return int(func(args) or 0)
    except (ValueError, KeyError, OSError, RuntimeError) as err:
        logging.getLogger("mnpo").error("%s", err)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
