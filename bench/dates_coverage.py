"""How many news-archive articles get a publication date, from where, and whether any date is wrong.

The news-archive corpus gives no dates (a real web archive does not), so every date comes from the URL or the
head of the text (`rag.ingest.dates.find_date`). Three figures:

- found: articles given a date, by source;
- coverage: of the articles that *carry* a date by a reference method written separately and kept simple
  (a URL path segment /YYYY/MM/DD/, or one of the first five non-empty lines that is nothing but a date, a
  "Published"/"Updated"/"Posted" cue and a date, or a date followed by "/ By" and a name), the share that
  `find_date` dates, and the share it dates the same day as the reference;
- after-question: of the gold evidence articles with a found date, the share dated *after* the day their
  question was asked (gold `date`): an article found for a question was published by then, so each such
  date is a wrong one.

Also: the text reader run on every article and compared with the URL's date (in this archive the URL always
wins when both exist, so the text source is otherwise never seen); 30 dated articles (id, date, source, the
URL or head line it came from) and every text-dated one written to bench/out for reading by hand; the median
time `find_date` takes per article.

`--mode ingest` reads the archive the way `rag index` does, through `rag.ingest.corpus.load_corpus`, and gives
the same counts by the documents' `date_source`, the lines refused, whether every document carries the date
`find_date` gives its raw row (the wiring loses or changes none), the after-question figure, and the time.

    nice -n 10 .venv/bin/python -m bench.dates_coverage [--mode ingest]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from bench.measure import ROOT, SHARED
from rag.ingest.corpus import load_corpus
from rag.ingest.dates import FoundDate, date_from_text, date_from_url, find_date

ARCHIVE = SHARED / "benchmarks" / "news-archive"
SAMPLE = 30

# The reference counter: deliberately plain, and sharing no code with rag.ingest.dates.
_REF_URL = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")
_REF_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_REF_WORDED = re.compile(r"([A-Z][a-z]{2})[a-z]*\.? (\d{1,2}), (\d{4})")
_REF_NUMERIC = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_REF_LINE = re.compile(
    r"(?:(?:Originally |Last )?(?:Published|Updated|Posted):? (?:on )?)?(?:[A-Z][a-z]+day, )?"
    r"(?P<date>[A-Z][a-z]{2}[a-z]*\.? \d{1,2}, \d{4}|\d{2}/\d{2}/\d{4})\.?(?: / By [A-Z].*)?",
    re.IGNORECASE,
)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def reference_dates(url: str, text: str) -> tuple[date | None, date | None]:
    """The day an article's URL carries and the day its head lines carry, by the reference method."""
    url_day = None
    if m := _REF_URL.search(url):
        url_day = _valid(int(m[1]), int(m[2]), int(m[3]))
    for line in [ln.strip() for ln in text.splitlines() if ln.strip()][:5]:
        if not (m := _REF_LINE.fullmatch(line)):
            continue
        expr = m["date"]
        if (w := _REF_WORDED.fullmatch(expr.replace("Sept", "Sep"))) and w[1].title() in _REF_MONTHS:
            day = _valid(int(w[3]), _REF_MONTHS.index(w[1].title()) + 1, int(w[2]))
        elif (n := _REF_NUMERIC.fullmatch(expr)) and int(n[2]) > 12:  # US order only where it cannot be misread
            day = _valid(int(n[3]), int(n[1]), int(n[2]))
        else:
            day = None
        if day:
            return url_day, day
    return url_day, None


def _origin(row: dict[str, str], found: FoundDate) -> str:
    """The URL, or the head line holding the date, that a found date came from."""
    if found.source == "url":
        return row["url"]
    day = date.fromisoformat(found.date)
    marks = (str(day.year), str(day.day))
    head = [ln.strip() for ln in row["text"].splitlines() if ln.strip()][:5]
    return next((ln for ln in head if all(m in ln for m in marks)), " | ".join(head))[:200]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", type=Path, default=ARCHIVE, help="folder holding corpus.jsonl and gold.jsonl")
    p.add_argument("--sample", type=Path, default=ROOT / "bench" / "out" / "dates_sample.tsv")
    p.add_argument("--mode", choices=("find_date", "ingest"), default="find_date",
                   help="find_date on each raw row (default), or the documents rag.ingest.corpus.load_corpus reads")
    args = p.parse_args(argv)

    with (args.archive / "corpus.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    found: dict[str, FoundDate | None] = {}
    seconds: list[float] = []
    for row in rows:
        start = time.perf_counter()
        found[row["_id"]] = find_date(url=row.get("url"), text=row.get("text", ""), meta_date=row.get("date"))
        seconds.append(time.perf_counter() - start)
    if args.mode == "ingest":
        return _through_ingest(args.archive, found)

    _print_counts(found)
    _print_domains(rows, found)
    _print_coverage(rows, found)
    _print_text_vs_url(rows, args.sample.with_name("dates_text.tsv"))
    _print_after_question(args.archive / "gold.jsonl", found)
    print(f"median time per article: {statistics.median(seconds) * 1e6:.0f} µs (total {sum(seconds):.1f} s)")
    _write_sample(args.sample, rows, found)
    return 0


def _print_counts(found: dict[str, FoundDate | None]) -> None:
    n = len(found)
    by_source = Counter(f.source if f else "none" for f in found.values())
    print(f"articles: {n}")
    for source in ("metadata", "url", "text", "none"):
        print(f"  date from {source:9s} {by_source[source]:6d}  {by_source[source] / max(n, 1):6.1%}")


def _through_ingest(archive: Path, direct: dict[str, FoundDate | None]) -> int:
    """The counts of `main`, for the documents `load_corpus` reads from the archive (the path `rag index`
    takes), checked against `direct`: what `find_date` gives each raw row."""
    start = time.perf_counter()
    result = load_corpus([archive / "corpus.jsonl"])
    seconds = time.perf_counter() - start
    found = {d.id: FoundDate(d.date, d.date_source) if d.date and d.date_source else None for d in result.documents}
    print(f"through rag.ingest.corpus.load_corpus: {len(found)} documents, {len(result.failures)} lines refused")
    for failure in result.failures[:5]:
        print(f"  refused: {failure}")
    _print_counts(found)
    differ = [k for k, got in found.items() if got != direct.get(k)]
    print(f"documents whose date or source differs from find_date on the raw row: {len(differ)}")
    for key in differ[:10]:
        print(f"  {key}: ingest {found[key]}, find_date {direct.get(key)}")
    _print_after_question(archive / "gold.jsonl", found)
    print(f"load_corpus: {seconds:.1f} s for {len(found) + len(result.failures)} rows "
          f"({seconds / max(len(found), 1) * 1e3:.2f} ms per article, reading and typing included)")
    return 0


def _print_domains(rows: list[dict[str, str]], found: dict[str, FoundDate | None]) -> None:
    dated, total = Counter[str](), Counter[str]()
    for row in rows:
        site = urlparse(row.get("url", "")).netloc.removeprefix("www.")
        total[site] += 1
        dated[site] += found[row["_id"]] is not None
    print("by site (dated / articles): " + ", ".join(f"{s} {dated[s]}/{total[s]}" for s, _ in total.most_common()))


def _print_coverage(rows: list[dict[str, str]], found: dict[str, FoundDate | None]) -> None:
    carrying = dated = same = beyond = in_url = in_text = text_read = text_same = 0
    for row in rows:
        url_day, text_day = reference_dates(row.get("url", ""), row.get("text", ""))
        got = found[row["_id"]]
        in_url += url_day is not None
        if text_day is not None:  # the text reader on its own, whatever the URL gives
            in_text += 1
            read = date_from_text(row.get("text", ""))
            text_read += read is not None
            text_same += read == text_day.isoformat()
        ref = url_day or text_day
        if ref is None:
            beyond += got is not None
            continue
        carrying += 1
        dated += got is not None
        same += got is not None and got.date == ref.isoformat()
    print(f"carry a date (reference): {carrying} (URL /YYYY/MM/DD/: {in_url}, head line: {in_text})")
    print(
        f"  coverage: dated {dated}/{carrying} = {dated / max(carrying, 1):.1%}; "
        f"same day as the reference {same}/{carrying} = {same / max(carrying, 1):.1%}"
    )
    print(f"  dated although the reference finds no date: {beyond}")
    print(
        f"  head-line reference alone: the text reader dates {text_read}/{in_text}, the same day {text_same}/{in_text}"
    )


def _print_text_vs_url(rows: list[dict[str, str]], path: Path) -> None:
    """The text reader on every article, against the URL's date where both give one; every article it dates
    goes to `path` (id, text date, URL date, head line) for reading by hand."""
    read = both = same = earlier = later = 0
    lines = ["id\ttext date\turl date\tline\n"]
    for row in rows:
        text_day = date_from_text(row.get("text", ""))
        if text_day is None:
            continue
        read += 1
        url_day = date_from_url(row.get("url", ""))
        lines.append(f"{row['_id']}\t{text_day}\t{url_day}\t{_origin(row, FoundDate(text_day, 'text'))}\n")
        if url_day is None:
            continue
        both += 1
        same += text_day == url_day
        earlier += text_day < url_day
        later += text_day > url_day
    print(
        f"text reader on every article: {read} dated; with a URL date too: {both} "
        f"(same day {same}, text earlier {earlier}, text later {later}); listed in {path}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def _print_after_question(gold: Path, found: dict[str, FoundDate | None]) -> None:
    pairs = after = 0
    late: list[str] = []
    with gold.open(encoding="utf-8") as fh:
        for line in fh:
            question = json.loads(line)
            asked = question["date"]
            for evidence in question["evidence"]:
                got = found.get(evidence["doc"])
                if got is None:
                    continue
                pairs += 1
                if got.date > asked:  # ISO days compare as strings
                    after += 1
                    late.append(f"{evidence['doc']} {got.date} ({got.source}) > {asked} [{question['id']}]")
    print(f"evidence articles dated after their question was asked: {after}/{pairs} = {after / max(pairs, 1):.2%}")
    for entry in late[:10]:
        print("  " + entry)


def _write_sample(path: Path, rows: list[dict[str, str]], found: dict[str, FoundDate | None]) -> None:
    """30 dated articles: every text-dated one up to half the sample (the rarer, riskier source), then URL ones."""
    rng = random.Random(5)
    sources = {r["_id"]: got.source for r in rows if (got := found[r["_id"]]) is not None}
    by_text = [r for r in rows if sources.get(r["_id"]) == "text"]
    picked = rng.sample(by_text, min(len(by_text), SAMPLE // 2))
    chosen = {r["_id"] for r in picked}
    rest = [r for r in rows if r["_id"] in sources and r["_id"] not in chosen]
    picked += rng.sample(rest, SAMPLE - len(picked))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write("id\tdate\tsource\tfrom\n")
        for row in picked:
            got = found[row["_id"]]
            assert got is not None
            out.write(f"{row['_id']}\t{got.date}\t{got.source}\t{_origin(row, got)}\n")
    print(f"sample of {len(picked)} dated articles for checking by hand: {path}")


if __name__ == "__main__":
    raise SystemExit(main())
