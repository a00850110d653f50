"""The bench's tables, printed from the results dict that bench/run.py also writes as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# (what, limit, unit) of the targets, checked against the figures in `targets()`.
ASK_TARGET_MS = {"seed": 20.0, "100000": 40.0, "1000000": 80.0}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True))
            for r in cells]
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _numeric(s: str) -> bool:
    return s.replace(",", "").replace(".", "").replace("-", "").replace("x", "").isdigit()


def print_report(r: dict[str, Any]) -> None:
    for title, text in sections(r):
        print(f"\n## {title}\n{text}")


def sections(r: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    if "embedding" in r:
        e = r["embedding"]
        rows = [[name, v["passages"], v["sentences"]] for name, v in e["texts_per_s"].items()]
        text = table(["embedding (texts/s, median)", "passages", "sentences"], rows)
        ag = e.get("agreement_bf16_vs_f32")
        if ag:
            text += (f"\nbfloat16 vs float32 cosine over {ag['texts']} real texts: min {ag['min']:.5f}, mean "
                     f"{ag['mean']:.5f}; precision chosen: {e['auto_precision']}")
        if e.get("token_budget"):
            text += "\ntexts/s by padded tokens per batch: " + ", ".join(
                f"{k}: {v}" for k, v in e["token_budget"].items())
        text += "\none question embedded (ms, median): " + ", ".join(f"{k} {v}" for k, v in e["query_ms"].items())
        if e.get("agreement_numpy_vs_torch_f32") is not None:
            text += f"; numpy vs torch float32 cosine (min): {e['agreement_numpy_vs_torch_f32']:.6f}"
        out.append(("Embedding", text))
    if "build" in r or "peers" in r:
        out.append(("Index build and retrieval, side by side", _build_table(r)))
    if "ask" in r:
        rows = [[name, a["passages"], a["store"], a["ask"]["median_ms"], a["ask"]["p95_ms"], a["ask"]["n"],
                 _breakdown(a["breakdown_ms"]), a["hit@5"]] for name, a in r["ask"].items()]
        out.append(("ask() warm latency", table(
            ["corpus", "passages", "store", "median ms", "p95 ms", "asks", "stages (median ms)", "Hit@5"], rows)))
    if "search" in r:
        out.append(("Vector search on real embeddings", _search_table(r["search"])))
    if "scale" in r:
        rows = [[int(n), s["store"], s.get("nprobe"), s["vector_memory_mib"], s["ask"]["median_ms"],
                 s["ask"]["p95_ms"], _breakdown(s["breakdown_ms"]), s["index_rss_mib"], s["peak_rss_mib"]]
                for n, s in r["scale"].items()]
        out.append(("ask() at scale (copies of the real squad-dev + news-rtqa index)", table(
            ["passages", "store", "nprobe", "vector MiB", "median ms", "p95 ms", "stages (median ms)",
             "index RSS MiB", "peak RSS MiB"], rows)))
    if "cold" in r:
        c = r["cold"]
        rows = [["rag ask (start to printed answer)", c["ask"]["to_answer"]["median_ms"] / 1000,
                 c["ask"]["to_answer"]["p95_ms"] / 1000, c["ask"]["to_answer"]["n"]]]
        if "chat" in c:
            rows.append([f"rag chat (start to page answering on :{c['chat']['port']})",
                         c["chat"]["to_ready"]["median_ms"] / 1000, c["chat"]["to_ready"]["p95_ms"] / 1000,
                         c["chat"]["to_ready"]["n"]])
        text = table(["cold start", "median s", "p95 s", "runs"], rows)
        imp = c.get("imports")
        if imp:
            text += (f"\n`rag ask` imports gradio: {imp['gradio_imported']}; slowest imports (cumulative ms): "
                     + ", ".join(f"{n} {ms:.0f}" for n, ms in imp["top_cumulative_ms"][:6]))
        out.append(("Cold start", text))
    rows = targets(r)
    if rows:
        out.append(("Targets", table(["target", "limit", "measured", "met"], rows)))
    if r.get("errors"):
        out.append(("Errors", "\n".join(f"{k}: {v}" for k, v in r["errors"].items())))
    return out


def _breakdown(b: dict[str, float]) -> str:
    keys = [k for k in ("embed_ms", "retrieve_ms", "answer_ms") if k in b]
    return " ".join(f"{k.removesuffix('_ms')} {b[k]:.1f}" for k in keys)


def _build_table(r: dict[str, Any]) -> str:
    rows = []
    builds, asks, peers = r.get("build", {}), r.get("ask", {}), r.get("peers", {})
    for name in dict.fromkeys([*builds, *peers]):
        side = peers.get(name, {})
        ours = side.get("ours") or builds.get(name)
        a = asks.get(name, {})
        if ours:
            rows.append([name, "ours", ours["seconds"], ours["passages"], ours["passages_per_s"], ours["chars_per_s"],
                         ours["peak_rss_mib"], a.get("hit@5"), (a.get("breakdown_ms") or {}).get("embed_ms"), "", ""])
        for peer, p in side.items():
            if peer in ("ours", "ratios"):
                continue
            x = side.get("ratios", {}).get(peer, {})
            rows.append([name, peer, p["seconds"], p["passages"], p["passages_per_s"], p["chars_per_s"],
                         p["peak_rss_mib"], p["hit@5"], p["query"]["median_ms"],
                         f"{x.get('passages_per_s_median')}x", f"{x.get('build_time_median')}x"])
    return table(["corpus", "system", "build s", "passages", "passages/s", "chars/s", "peak MiB", "Hit@5",
                  "query ms", "ours/peer passages/s", "peer/ours build time"], rows) + (
        "\n(build s: median of rounds; ratios: median of per-round ratios, each round building ours and the peers "
        "back to back. query ms: ours = the question's embedding in ask(); peers = one retriever call. Peak MiB "
        "includes the model.)")


def _search_table(s: dict[str, Any]) -> str:
    rows = []
    for p in s["points"]:
        for kind, k in p["kinds"].items():
            rows.append([p["n"], p["distinct"], kind, k["build_s"], k["memory_mib"], k["search"]["median_ms"],
                         k["search"]["p95_ms"], k["recall@10"], k.get("nlist"), k.get("nprobe")])
    text = table(["vectors", "distinct", "kind", "build s", "memory MiB", "search median ms", "p95 ms",
                  "recall@10", "nlist", "nprobe"], rows)
    for p in s["points"]:
        sweep = p["kinds"].get("ivf-sq8", {}).get("nprobe_sweep")
        if sweep:
            text += f"\n  nprobe sweep at {p['n']:,}: " + ", ".join(
                f"{n}: recall {v['recall@10']:.3f} / {v['search_median_ms']:.2f} ms" for n, v in sweep.items())
    text += (f"\n({s['real_vectors']:,} real vectors, {s['queries']} real questions; beyond that the real vectors "
             "are tiled with distinct ids and recall counts exact-score ties as hits)")
    return text


def targets(r: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    seed = r.get("ask", {}).get("seed")
    if seed:
        rows.append(["ask() warm, seed article (median)", "≤ 20 ms", f"{seed['ask']['median_ms']:.1f} ms",
                     seed["ask"]["median_ms"] <= ASK_TARGET_MS["seed"]])
    for n, s in r.get("scale", {}).items():
        limit = ASK_TARGET_MS.get(n)
        if limit:
            rows.append([f"ask() warm at {int(n):,} passages (median)", f"≤ {limit:.0f} ms",
                         f"{s['ask']['median_ms']:.1f} ms", s["ask"]["median_ms"] <= limit])
    for p in r.get("search", {}).get("points", []):
        ivf = p["kinds"].get("ivf-sq8")
        if p["n"] >= 1_000_000 and ivf:
            rows.append([f"recall@10 at {p['n']:,}", "≥ 0.95", ivf["recall@10"], ivf["recall@10"] >= 0.95])
            rows.append([f"vector memory at {p['n']:,}", "≤ 1024 MiB", f"{ivf['memory_mib']:.0f} MiB",
                         ivf["memory_mib"] <= 1024])
    for name, side in r.get("peers", {}).items():
        ask = r.get("ask", {}).get(name, {})
        for peer, p in side.items():
            if peer in ("ours", "ratios"):
                continue
            x = side.get("ratios", {}).get(peer, {}).get("passages_per_s_median")
            if x is not None:
                rows.append([f"build passages/s vs {peer}, {name}", "≥ 2.5x", f"{x}x", x >= 2.5])
                if ask.get("hit@5") is not None:
                    rows.append([f"Hit@5 vs {peer}, {name}", f"≥ {p['hit@5']:.3f}", ask["hit@5"],
                                 ask["hit@5"] >= p["hit@5"]])
    c = r.get("cold", {})
    if "ask" in c:
        v = c["ask"]["to_answer"]["median_ms"] / 1000
        rows.append(["`rag ask` cold (median)", "≤ 6 s", f"{v:.2f} s", v <= 6])
    if "chat" in c:
        v = c["chat"]["to_ready"]["median_ms"] / 1000
        rows.append(["chat ready (median)", "≤ 10 s", f"{v:.2f} s", v <= 10])
    return rows
