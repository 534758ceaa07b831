"""Command line: ``python -m training digits --arch resnet``, ``python -m training names``, or one of
the course's models: ``python -m training regression|logistic|diabetes|hello --arch rnn``."""

import argparse
import random
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artifacts import ModelStore
from nets import ARCHITECTURES, architectures
from training.course_cli import COURSE_COMMANDS, add_course_parsers, run_course
from training.data import load_mnist, load_names
from training.digits import DigitsTask
from training.loop import FitConfig
from training.names import NamesTask
from training.publish import train_and_publish

DIGIT_ARCHITECTURES = ["mlp", "cnn", "inception", "resnet"]


def resolve_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(choice)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def common_arguments(parser: argparse.ArgumentParser, *, epochs: int, lr: float, batch_size: int) -> None:
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--store", type=Path, default=Path("models_store"), help="model store root")
    parser.add_argument("--name", help="model name in the store (default: the architecture name)")
    parser.add_argument("--version", type=int, help="version to write (default: next free)")
    parser.add_argument("--limit", type=int, help="use only the first N rows of each split (smoke runs)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps in total")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def digits_architecture(name: str) -> str:
    """A built-in digits architecture by its short name (``resnet``), or any registered one by its full name."""
    if name in DIGIT_ARCHITECTURES:
        return f"digits-{name}"
    if name in architectures():
        return name
    known = ", ".join([*DIGIT_ARCHITECTURES, *sorted(set(architectures()) - set(ARCHITECTURES))])
    raise argparse.ArgumentTypeError(f"unknown architecture {name!r}; known: {known}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="task", required=True)
    digits = sub.add_parser("digits", help="MNIST digit classifiers")
    digits.add_argument(
        "--arch",
        type=digits_architecture,
        default="resnet",
        help=f"{', '.join(DIGIT_ARCHITECTURES)}, or an architecture a plugin registers (e.g. tiny-digits-net)",
    )
    digits.add_argument("--data-dir", type=Path, default=Path("data"), help="holds MNIST/raw/*-ubyte")
    digits.add_argument("--download", action="store_true", help="fetch MNIST if it is missing")
    digits.add_argument("--no-augment", dest="augment", action="store_false")
    common_arguments(digits, epochs=15, lr=3e-3, batch_size=128)
    names = sub.add_parser("names", help="bidirectional GRU surname -> country")
    names.add_argument("--train-csv", type=Path, default=Path("data/names/names_train.csv"))
    names.add_argument("--test-csv", type=Path, default=Path("data/names/names_test.csv"))
    names.add_argument("--val-fraction", type=float, default=0.1)
    names.add_argument("--embedding-dim", type=int, default=64)
    names.add_argument("--embedding-dropout", type=float, default=0.0, help="drop whole characters")
    names.add_argument("--hidden-size", type=int, default=128)
    names.add_argument("--layers", type=int, default=2)
    common_arguments(names, epochs=20, lr=3e-3, batch_size=64)
    add_course_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    config: dict[str, Any] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    # the arguments this run really got, also when main() is called from Python
    command = shlex.join(["python", "-m", "training", *(sys.argv[1:] if argv is None else argv)])
    if args.task in COURSE_COMMANDS:
        run_course(args, config, command)
        return
    device = resolve_device(args.device)
    task: DigitsTask | NamesTask
    if args.task == "digits":
        splits = load_mnist(args.data_dir, download=args.download, seed=args.seed, limit=args.limit)
        task = DigitsTask(splits, args.batch_size, args.seed, args.augment, device)
        architecture, arch_args = args.arch, {"dropout": args.dropout}
        val, test = task.eval_batches(splits.val), task.eval_batches(splits.test)
    else:
        splits_n = load_names(
            args.train_csv, args.test_csv, seed=args.seed, val_fraction=args.val_fraction, limit=args.limit
        )
        task = NamesTask(splits_n, args.batch_size, args.seed)
        architecture = "names-gru"
        arch_args = {
            "vocab_size": len(task.preprocessing.vocabulary) + 2,
            "num_classes": len(task.labels),
            "embedding_dim": args.embedding_dim,
            "hidden_size": args.hidden_size,
            "num_layers": args.layers,
            "dropout": args.dropout,
            "embedding_dropout": args.embedding_dropout,
        }
        val, test = task.eval_batches(splits_n.val), task.eval_batches(splits_n.test)
        splits = splits_n  # type: ignore[assignment]
    fit_config = FitConfig(
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        max_steps=args.max_steps,
        steps_per_epoch=task.steps_per_epoch,
    )
    train_and_publish(
        task,
        name=args.name or architecture,
        architecture=architecture,
        architecture_args=arch_args,
        val_batches=val,
        test_batches=test,
        checksums=splits.checksums,
        fit_config=fit_config,
        device=device,
        store=ModelStore(args.store),
        version=args.version,
        config=config,
        command=command,
    )


if __name__ == "__main__":
    main()
