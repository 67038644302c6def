"""The ``igu-suite`` command line.

    igu-suite compare --scorers ig,adalora --task sst2 --seeds 0,1 --preset cpu
    igu-suite run --scorer ig --task sst2 --seed 0 --preset cpu --output runs/one
    igu-suite report runs/sst2-cpu
    igu-suite scorers | tasks | config

Every command exits with 0 on success, 1 when a run failed and 2 on invalid input, and
prints one line per error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

from .config import RunConfig, apply_overrides, describe_fields
from .models import PACKAGED_MODELS
from .registry import UnknownNameError, report_registry, task_registry
from .run import RunFailedError

logger = logging.getLogger("igu_suite")

EXIT_RUN_FAILED = 1
EXIT_INVALID_INPUT = 2


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", help="Task name (see `igu-suite tasks`). Default: the preset's (sst2; arc_easy "
                                         "for lm-cpu).")
    parser.add_argument("--preset", default="auto",
                        help="Starting config: cpu, lm-cpu, paper, smoke, or auto (lm-cpu for causal-LM tasks, else "
                             "paper with CUDA and cpu without). "
                             "Default: auto.")
    parser.add_argument("--model", help=f"Model: a packaged one ({', '.join(PACKAGED_MODELS)}), a local folder or a "
                                        "hub id. Default: the preset's.")
    parser.add_argument("--data-dir", help="Data folder with glue/<TASK>/{train,dev}.tsv. Default: $IGU_DATA_DIR, "
                                           "else the Hugging Face hub.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="Override a config field, e.g. --set train.lr=1e-3 (repeatable; see `igu-suite config "
                             "--fields`).")
    parser.add_argument("--two-stage", action="store_true",
                        help="Retrain fresh adapters with the final rank pattern fixed and report that accuracy.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")


def build_config(args: argparse.Namespace) -> RunConfig:
    """Return the run config from a preset, the named options and --set overrides."""
    from .presets import preset_config

    config = preset_config(args.preset, args.task)
    overrides = []
    if args.model:
        overrides.append(f"model={args.model}")
    if args.data_dir:
        overrides.append(f"data_dir={args.data_dir}")
    if args.two_stage:
        overrides.append("two_stage=true")
    if args.no_progress:
        overrides.append("train.progress=false")
    return apply_overrides(config, overrides + list(args.overrides))


def _parse_seeds(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"Invalid --seeds {text!r}: expected comma-separated integers such as 0,1,2.") from None


def command_compare(args: argparse.Namespace) -> int:
    from .compare import run_compare

    config = build_config(args)
    scorers = [name.strip() for name in args.scorers.split(",") if name.strip()]
    seeds = _parse_seeds(args.seeds)
    output = Path(args.output) if args.output else Path("runs") / f"{config.task}-{config.preset}"
    result = run_compare(scorers, seeds, config, output, build_report=not args.no_report, reference=args.reference)
    print(f"summary: {result.summary_path}")
    for kind, path in result.report_paths.items():
        print(f"{kind}: {path}")
    if result.failed:
        for name, error in result.failed.items():
            print(f"error: run {name} failed: {error}", file=sys.stderr)
        print(f"error: {len(result.failed)} run(s) failed; run the same command again to redo them.", file=sys.stderr)
        return EXIT_RUN_FAILED
    return 0


def command_run(args: argparse.Namespace) -> int:
    from .compare import plan_run, run_name
    from .run import execute_run

    config = build_config(args)
    config.scorer.name = args.scorer
    config.seed = args.seed
    output = Path(args.output) if args.output else Path("runs") / "single" / run_name(args.scorer, args.seed)
    if plan_run(config, output) == "skip":
        print(f"run: {output} (finished earlier, not retrained)")
        return 0
    record = execute_run(config, output)
    print(f"run: {output}")
    print(f"{record['main_metric']}: {record['metrics'][record['main_metric']]:.4f}")
    return 0


def command_report(args: argparse.Namespace) -> int:
    builder = report_registry.get("pdf")
    output = Path(args.output) if args.output else Path(args.paths[0])
    paths = builder([Path(p) for p in args.paths], output, reference=args.reference)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def command_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_saved

    if (args.run_dir is None) == (args.model is None):
        raise ValueError("Give either a run folder or --model NAME_OR_PATH (not both).")
    tasks = [name.strip() for name in args.lm_eval.split(",") if name.strip()]
    path = evaluate_saved(
        run_dir=Path(args.run_dir) if args.run_dir else None, model=args.model, tasks=tasks, limit=args.limit,
        num_fewshot=args.num_fewshot, batch_size=args.batch_size, seed=args.seed, data_dir=args.data_dir,
        output=Path(args.output) if args.output else None, device=args.device,
    )
    print(f"results: {path}")
    return 0


def command_scorers(args: argparse.Namespace) -> int:
    from .scoring import describe_scorers

    rows = describe_scorers()
    width = max(len(name) for name, _ in rows)
    for name, summary in rows:
        print(f"{name:<{width}}  {summary}")
    return 0


def command_tasks(args: argparse.Namespace) -> int:
    for name, task in task_registry.items():
        print(f"{name:<12} main metric: {task.main_metric}")
    return 0


def command_config(args: argparse.Namespace) -> int:
    if args.fields:
        print(describe_fields())
        return 0
    print(build_config(args).to_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="igu-suite", description="Compare importance scorers for adaptive-rank LoRA.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log DEBUG messages.")
    parser.add_argument("-q", "--quiet", action="store_true", help="Log warnings and errors only.")
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="Train every scorer over several seeds and build the report.")
    compare.add_argument("--scorers", default="ig,adalora", help="Comma-separated scorer names or module:Class paths.")
    compare.add_argument("--seeds", default="0,1", help="Comma-separated seeds. Default: 0,1.")
    compare.add_argument("--output", help="Experiment folder. Default: runs/<task>-<preset>.")
    compare.add_argument("--reference", default="adalora", help="Scorer that ratios and paired tests compare with.")
    compare.add_argument("--no-report", action="store_true", help="Skip the PDF report.")
    _add_config_options(compare)
    compare.set_defaults(handler=command_compare)

    run = commands.add_parser("run", help="Train and evaluate one scorer with one seed.")
    run.add_argument("--scorer", default="adalora", help="Scorer name or module:Class path. Default: adalora.")
    run.add_argument("--seed", type=int, default=0, help="Seed. Default: 0.")
    run.add_argument("--output", help="Run folder. Default: runs/single/<scorer>-seed<seed>.")
    _add_config_options(run)
    run.set_defaults(handler=command_run)

    report = commands.add_parser("report", help="Build report.pdf from existing run or experiment folders.")
    report.add_argument("paths", nargs="+", help="Run folders or experiment folders (several are merged).")
    report.add_argument("--output", help="Folder for report.pdf, report.md and tables. Default: the first path.")
    report.add_argument("--reference", default="adalora", help="Scorer that ratios and paired tests compare with.")
    report.set_defaults(handler=command_report)

    evaluation = commands.add_parser("eval", help="Evaluate a trained run or a base model with lm-evaluation-harness.")
    evaluation.add_argument("run_dir", nargs="?", help="Run folder of a causal-LM run (its adapter is loaded).")
    evaluation.add_argument("--model", help="Base model without adapters: a packaged causal LM (smollm2), a folder or "
                                            "a hub id.")
    evaluation.add_argument("--lm-eval", required=True, help="Comma-separated lm-eval task names, e.g. arc_easy,boolq.")
    evaluation.add_argument("--limit", type=int, help="Documents per task (default: all).")
    evaluation.add_argument("--num-fewshot", type=int, default=0, help="Few-shot examples per prompt. Default: 0.")
    evaluation.add_argument("--batch-size", type=int, default=16, help="lm-eval batch size. Default: 16.")
    evaluation.add_argument("--seed", type=int, default=0, help="Seed of lm-eval's sampling. Default: 0.")
    evaluation.add_argument("--data-dir", help="Data folder for offline tasks. Default: the run's, then "
                                                "$IGU_DATA_DIR, else the hub.")
    evaluation.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N. Default: auto.")
    evaluation.add_argument("--output", help="Folder for the results JSON. Default: <run>/eval, or runs/eval/<model>.")
    evaluation.set_defaults(handler=command_eval)

    scorers = commands.add_parser("scorers", help="List the registered scorers, built-in and plug-in.")
    scorers.set_defaults(handler=command_scorers)

    tasks = commands.add_parser("tasks", help="List the registered tasks.")
    tasks.set_defaults(handler=command_tasks)

    config = commands.add_parser("config", help="Print the resolved config, or every field with --fields.")
    config.add_argument("--fields", action="store_true", help="List every config field with its default and help.")
    _add_config_options(config)
    config.set_defaults(handler=command_config)
    return parser


def configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.INFO
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # Library messages that are not about this run's results.
    for name in ("httpx", "urllib3", "filelock", "matplotlib", "datasets", "fsspec"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    warnings.filterwarnings("ignore", message=".*LoRA tensor\\(s\\) have invalid shape.*")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("error: interrupted; unfinished runs are marked failed and are redone by the same command.",
              file=sys.stderr)
        return 130
    except RunFailedError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except (ValueError, FileNotFoundError, UnknownNameError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
