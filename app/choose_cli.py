"""`optatlas choose`: the chooser on the command line, with the page's options, a readable
answer and `--json` for scripts."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from app.chooser_service import (
    ESTIMATE_NOTE,
    ChooserInputError,
    Question,
    answer,
    answer_json,
    measured_evidence,
    merge,
)
from core.chooser.models import PRESETS
from core.chooser.query import TOLERANCES
from core.chooser.rules import ENGINES, GOALS, default_rules


def _file_evidence(rules):
    """The taxonomy's reported results, read from its data files (no database needed)."""
    from app.chooser_service import taxonomy_evidence
    from taxonomy.loader import load_taxonomy

    taxonomy = load_taxonomy()
    return taxonomy_evidence(rules, _FileCatalog(taxonomy))


class _FileCatalog:
    """The one catalog lookup the evidence needs (`get(slug).reported_results`), over the
    taxonomy's files, with each result's source as its citation."""

    def __init__(self, taxonomy) -> None:
        self._nodes = {node.slug: node for node in taxonomy.nodes}
        self._references = taxonomy.references

    def get(self, slug: str):
        node = self._nodes.get(slug)
        if node is None:
            return None
        results = [result.model_copy(update={"source": self._cite(result.source)})
                   for result in node.reported_results]
        return argparse.Namespace(reported_results=results)

    def _cite(self, key: str) -> str:
        reference = self._references.get(key)
        if reference is None:
            return key
        authors = list(reference.authors)
        names = authors[0] + (" et al." if len(authors) > 1 or reference.et_al else "")
        return f"{names} ({reference.year})"


def _measured(rules):
    """OptAtlas's measured runs in the database, when there is one to read."""
    try:
        import streamlit.runtime.caching.cache_data_api  # noqa: F401 - creates its logger

        # Streamlit's caches warn when set up outside a server; here that is expected.
        logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
        from app.results_service import results_frame

        return measured_evidence(rules, results_frame())
    except Exception as error:  # noqa: BLE001 - no database yet is not an error here
        print(f"(no measured runs read: {str(error).splitlines()[0][:120]})", file=sys.stderr)
        return {}


def _gib(value: float) -> str:
    return f"{value / 2**30:,.1f} GiB"


def _print(data: dict) -> None:
    model, hardware = data["model"], data["hardware"]
    count = f"{hardware['count']} x " if hardware["count"] > 1 else ""
    print(f"{model['name']} ({model['parameters'] / 1e9:,.2f} B parameters) on "
          f"{count}{hardware['name']}; batch {data['workload']['batch']}, prompt "
          f"{data['workload']['prompt']}, output {data['workload']['output']} tokens")
    print(f"Goal: {data['goal']} ({data['ranks_by']}); tolerance: {data['tolerance']}; "
          f"rules {data['rules_version']}")
    for problem in data["problems"]:
        print(f"! {problem}")
    for option in data["shortlist"]:
        memory, speed, risk = option["memory"], option["speed"], option["risk"]
        flag = "" if option["within_tolerance"] else "  [exceeds your tolerance]"
        print(f"\n{option['rank']}. {option['name']}{flag}")
        where = (f"{_gib(memory['total_bytes'] - memory['offloaded_bytes'])} on the device and "
                 f"{_gib(memory['offloaded_bytes'])} in host memory" if memory["offloaded_bytes"]
                 else f"of {_gib(memory['usable_bytes'])} usable")
        print(f"   memory {_gib(memory['total_bytes'])} {where} (weights "
              f"{_gib(memory['weights_bytes'])}, KV cache {_gib(memory['kv_cache_bytes'])})")
        print(f"   decode ~{speed['decode_tok_s']:,.1f} tok/s per sequence, request "
              f"~{speed['request_s']:,.2f} s, ~{speed['throughput_tok_s']:,.0f} tok/s at batch "
              f"{speed['batch']} (estimate, {speed['decode']['bound']}-bound)")
        print(f"   quality risk: {risk['level']} ({risk['basis']}: {risk['reason']})")
        cost = option["cost"]
        print(f"   cost: about {cost['gpu_hours']:,.2f} GPU-hours"
              + (", calibration data" if cost["calibration_data"] else "")
              + (", training" if cost["training"] else ""))
        print(f"   runs with: {option['engine_how'] or option['library']}")
    if data["excluded"]:
        print("\nExcluded:")
        for item in data["excluded"]:
            print(f"- {item['name']}: {'; '.join(item['reasons'])}")
    print(f"\nNote: {ESTIMATE_NOTE}.")


def _choose(args: argparse.Namespace) -> int:
    rules = default_rules()
    if args.list_hardware:
        from app.chooser_service import hardware_options

        for key, device in hardware_options().items():
            print(f"{key:14} {device.name} ({device.memory_gib:g} GiB, "
                  f"{device.bandwidth_gb_s:g} GB/s)")
        return 0
    question = Question(model=args.model, hardware=args.hardware, count=args.count,
                        batch=args.batch, prompt=args.prompt, output=args.output, goal=args.goal,
                        tolerance=args.tolerance, calibration_data=not args.no_calibration_data,
                        gpu_hours=args.gpu_hours, engine=args.engine)
    evidence = merge(_file_evidence(rules), _measured(rules))
    try:
        result = answer(question, evidence, rules=rules)
    except ChooserInputError as error:
        print(f"Cannot answer: {error}", file=sys.stderr)
        return 2
    data = answer_json(result, question)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print(data)
    return 0


def add_command(commands) -> None:
    """Add `choose` to the `optatlas` command line."""
    choose = commands.add_parser(
        "choose", help="which technique for a model and hardware: a ranked shortlist")
    choose.add_argument("--model", default="8B",
                        help=f"a size preset ({', '.join(PRESETS)}), 'default' (the bundled "
                        "model), a Hugging Face id or a local folder (its config.json only)")
    choose.add_argument("--hardware", default="h100-sxm",
                        help="a device key (see --list-hardware) or 'this-machine'")
    choose.add_argument("--count", type=int, default=1, help="how many such devices")
    choose.add_argument("--batch", type=int, default=1, help="concurrent requests")
    choose.add_argument("--prompt", type=int, default=1024, help="prompt tokens")
    choose.add_argument("--output", type=int, default=256, help="output tokens")
    choose.add_argument("--goal", choices=GOALS, default="latency")
    choose.add_argument("--tolerance", choices=TOLERANCES, default="small",
                        help="the quality loss you accept: lossless, small or some")
    choose.add_argument("--no-calibration-data", action="store_true",
                        help="no calibration data: rules out GPTQ, AWQ, SmoothQuant ...")
    choose.add_argument("--gpu-hours", type=float, default=8.0,
                        help="GPU-hours you can spend on calibration or training "
                        "(default: 8, a working day on one GPU)")
    choose.add_argument("--engine", choices=ENGINES, help="the serving engine (default: any)")
    choose.add_argument("--json", action="store_true", help="the whole answer as JSON")
    choose.add_argument("--list-hardware", action="store_true", help="list the devices")
    choose.set_defaults(handler=_choose)
