"""The evaluation report: results.json, report.md (tables per mode and K) and ndcg.png."""

from __future__ import annotations

import json
from pathlib import Path

from models.metrics import METRICS

TITLES = {"repeats": "(i) repeats allowed", "discovery": "(ii) discovery: the user's train items excluded"}


def markdown_tables(results: dict) -> str:
    """One table per (mode, K): a row per source, a column per metric."""
    lines = []
    for mode, sources in results.get("results", {}).items():
        for k in results["ks"]:
            users = next(iter(sources.values()))[k]["users"] if sources else 0
            lines += [f"\n### {TITLES.get(mode, mode)}, K = {k} ({users:,} users)\n",
                      "| source | " + " | ".join(f"{m}@{k}" for m in METRICS) + " |",
                      "|---|" + "---:|" * len(METRICS)]
            for name, by_k in sources.items():
                row = by_k[k]
                lines.append(f"| {name} | " + " | ".join(_fmt(row.get(m)) for m in METRICS) + " |")
    return "\n".join(lines)


def cart_table(cart: dict) -> str:
    """The cart protocol's tier orders: HR and MRR at cart.k on validation and test, chosen and served marked."""
    k = cart["k"]
    validation, test = cart["validation"], cart["test"]
    lines = [f"\n### Cart completion, K = {k} (validation {validation['orders']:,} orders "
             f"{' .. '.join(validation['window'])}; test {test['orders']:,} orders {' .. '.join(test['window'])})\n",
             f"| tier order | validation HR@{k} | validation MRR@{k} | test HR@{k} | test MRR@{k} |",
             "|---|---:|---:|---:|---:|"]
    for v, t in zip(validation["results"], test["results"]):
        marks = [m for m, order in (("chosen on validation", cart["chosen_on_validation"]),
                                    ("served: cart.order", cart["served"])) if v["order"] == order]
        name = " -> ".join(v["order"]) + (f" ({', '.join(marks)})" if marks else "")
        lines.append(f"| {name} | {v['hr']:.4f} | {v['mrr']:.4f} | {t['hr']:.4f} | {t['mrr']:.4f} |")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}"


def plot(results: dict, path: Path) -> None:
    """Bars of NDCG at the largest K per source, one group per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = results["ks"][-1]
    modes = list(results["results"])
    names = sorted({n for sources in results["results"].values() for n in sources},
                   key=lambda n: results["results"][modes[0]].get(n, {}).get(k, {}).get("ndcg", 0))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    height = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        values = [results["results"][mode].get(n, {}).get(k, {}).get("ndcg", 0.0) for n in names]
        ax.barh([y + i * height for y in range(len(names))], values, height=height, label=TITLES.get(mode, mode))
    ax.set_yticks([y + height * (len(modes) - 1) / 2 for y in range(len(names))], names)
    ax.set_xlabel(f"NDCG@{k}")
    ax.set_title(f"cutoff {results['cutoff']}, test to {results['end']}")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict, out: Path) -> dict[str, Path]:
    """Write results.json, report.md and ndcg.png into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "report.md", "plot": out / "ndcg.png"}
    paths["json"].write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    header = [f"# Offline evaluation: {results.get('env', '')}"]
    if results.get("results"):
        plot(results, paths["plot"])
        header += [f"\nTrain before {results['cutoff']}; test {results['cutoff']} .. {results['end']}; "
                   f"{results['train_items']:,} train items. Metrics per user, averaged; see models/metrics.py.",
                   "\n![NDCG](ndcg.png)"]
    if results.get("als_search"):
        tuned = results["als_search"]
        header.append(f"\nALS parameters chosen on the validation window {' .. '.join(tuned['validation'])}: "
                      f"{json.dumps(tuned['best'])}")
    if results.get("ranker_search"):
        tuned = results["ranker_search"]
        header.append(f"\nRanker settings chosen on the validation window {' .. '.join(tuned['validation'])} "
                      f"({tuned['mode']}): {json.dumps(tuned['best'])} among "
                      + "; ".join(f"{json.dumps(row['point'])} {row[next(k for k in row if k.startswith('ndcg'))]:.4f}"
                                  for row in tuned["grid"]))
    cart = cart_table(results["cart"]) if results.get("cart") else ""
    paths["markdown"].write_text("\n".join(header) + "\n" + markdown_tables(results) + "\n" + cart + "\n")
    return paths
