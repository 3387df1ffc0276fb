"""Command line: ``python -m explorer zoo list`` and ``python -m explorer zoo build [NAME ...]``.

``build`` retrains the named zoo models (all by default) deterministically, seeded and
on one thread, and rewrites their checkpoints and ``data/models.json``.
"""

from __future__ import annotations

import argparse
import sys

from . import zoo


def main(argv=None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``python -m explorer`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status, 0 (an unknown model name exits with status 2, through argparse).
    """
    parser = argparse.ArgumentParser(prog="python -m explorer", description=__doc__.split("\n")[0])
    topics = parser.add_subparsers(dest="topic", required=True)
    zoo_parser = topics.add_parser("zoo", help="the model zoo")
    sub = zoo_parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="retrain models and rewrite data/models.json")
    b.add_argument("names", nargs="*", help="models to rebuild (default: all)")
    sub.add_parser("list", help="list the zoo models with their test accuracy")
    args = parser.parse_args(argv)
    if args.command == "list":
        for n in zoo.names():
            c = zoo.card(n)
            acc = c.get("test_accuracy")
            print(f"{n:18s} {c['dataset']:8s} {'-' if acc is None else f'{100 * acc:.1f}%'}  {c['description']}")
        return 0
    unknown = [n for n in args.names if n not in zoo.ENTRIES]
    if unknown:
        zoo_parser.error(f"unknown model(s) {unknown}; choose from {zoo.names()}")

    def report(name, done, total):
        if done == total or done % max(1, total // 10) == 0:
            print(f"\r{name}: epoch {done}/{total}", end="\n" if done == total else "", flush=True)

    cards = zoo.build(args.names or None, progress=report)
    for n in args.names or zoo.names():
        facts = {k: v for k, v in cards[n].items() if k.endswith(("accuracy", "error", "loss"))}
        print(f"{n}: {facts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
