"""What is available: ``models`` and ``datasets``."""

from __future__ import annotations

import json

from bayescale.cli.common import (
    print_table,
)


def register(commands) -> None:
    """Add this group's subcommands to the parser."""
    p = commands.add_parser("models", help="list the named models, or show one's priors")
    p.add_argument("name", nargs="?", help="a model name or .toml file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_models)

    p = commands.add_parser("datasets", help="list the registered data sets, or show one's card")
    p.add_argument("name", nargs="?", help="a data set name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_datasets)


def _models(args) -> int:
    import pandas as pd

    from bayescale.spec.model_spec import available_specs, load_spec

    if args.name is None:
        rows = [{"model": name, "description": load_spec(name).description}
                for name in available_specs()]
        return print_table(pd.DataFrame(rows).set_index("model"), args)
    spec = load_spec(args.name)
    if args.json:
        print(spec.to_json())
        return 0
    pooling = {k: v for k, v in spec.pooling.items() if k not in ("scales", "why")}
    print(f"{spec.name}: {spec.description}\nlaw: {spec.law}; likelihood: {spec.likelihood}; "
          f"pooling: {json.dumps(pooling)}\n")
    for row in spec.prior_table().itertuples():
        print(f"{row.parameter} ~ {row.prior}\n    {row.why}")
    return 0


def _datasets(args) -> int:
    import pandas as pd

    from bayescale.data import datasets

    if args.name is None:
        rows = [{"data set": name, "title": datasets.info(name)["title"]}
                for name in datasets.available()]
        return print_table(pd.DataFrame(rows).set_index("data set"), args)
    card = datasets.info(args.name)
    if args.json:
        print(json.dumps(card, indent=2))
        return 0
    for key in ("title", "citation", "license", "repo", "commit"):
        print(f"{key}: {' '.join(str(card[key]).split())}")
    for key, value in card.get("conventions", {}).items():
        print(f"convention {key}: {value}")
    paths = [entry["path"] for entry in card["files"]]
    shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
    print(f"files ({len(paths)}): {shown}")
    print("loader options: " + (", ".join(datasets.loader_options(args.name)) or "none"))
    return 0
