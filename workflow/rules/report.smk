# ---------------------------------------------------------------------------------------------
# aggregate_metrics: every metric JSON of the grid -> one long table (one row per number).
rule aggregate_metrics:
    input:
        metrics=grid.metric_files(config),
    output:
        csv=report(
            "results/tables/metrics.csv",
            caption="../report/metrics.rst",
            category="Tables",
        ),
    log:
        "logs/aggregate_metrics.log",
    script:
        "../scripts/aggregate_metrics.py"


# ---------------------------------------------------------------------------------------------
# make_tables: one paper-layout table (Markdown, CSV, LaTeX) from the long table.
rule make_tables:
    input:
        metrics="results/tables/metrics.csv",
    output:
        md="results/tables/{table}.md",
        csv=report(
            "results/tables/{table}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
        tex="results/tables/{table}.tex",
    params:
        spec=table_spec,
    log:
        "logs/make_tables/{table}.log",
    script:
        "../scripts/make_tables.py"


# ---------------------------------------------------------------------------------------------
# plot_figures: CAM comparison grid and box-accuracy-vs-threshold curves of one dataset.
rule plot_figures:
    input:
        unpack(figure_inputs),
    output:
        cam_grid=report(
            "results/figures/{dataset}/cam_grid.png",
            caption="../report/cam_grid.rst",
            category="Figures",
            labels={"dataset": "{dataset}", "figure": "CAM grid"},
        ),
        cam_grid_pdf="results/figures/{dataset}/cam_grid.pdf",
        curves=report(
            "results/figures/{dataset}/threshold_curves.png",
            caption="../report/threshold_curves.rst",
            category="Figures",
            labels={"dataset": "{dataset}", "figure": "threshold curves"},
        ),
        curves_pdf="results/figures/{dataset}/threshold_curves.pdf",
    params:
        settings=config["figures"],
    log:
        "logs/plot_figures/{dataset}.log",
    script:
        "../scripts/plot_figures.py"
