"""Stage ingest: list the selected, usable audio files of the corpus (and reject the rest).

``data.source`` is the demo corpus (generated into data/raw), a folder or manifest CSV
(read in place), a local zip/tar archive, or an http(s) URL of one (downloaded once into
data/downloads); archives are extracted into data/raw. DVC runs this stage on every
repro (``always_changed``) and never hashes the corpus itself: the stage checks every
file before opening it, decodes only files it has not seen (``--cache``), and rebuilds
data/raw only when what it was made from changed, so on an unchanged corpus its
outputs come out byte-identical and DVC skips everything downstream.
"""

from pathlib import Path

from ser.corpus.catalog import locate
from ser.corpus.conventions import selected_convention
from ser.corpus.ingest import CheckCache, IngestError, ingest
from ser.corpus.raw import fill_raw
from ser.files import atomic_path, user_cache_dir, write_json
from ser.stagekit import origin, run_stage, stage_parser

DOWNLOADS_NOTE = "Archives downloaded for URL data.source values, kept across runs (not cached by DVC).\n"


def main(args, params):
    convention = selected_convention(params.data.dataset, params.data.emotions)  # checked before any download
    note = Path(args.downloads) / "README.txt"
    if not note.is_file():
        with atomic_path(note) as tmp:
            tmp.write_text(DOWNLOADS_NOTE)
    started_from = origin()
    corpus, refused, inside = fill_raw(
        Path(args.raw),
        Path(args.downloads),
        params.data,
        params.audio.sample_rate,
        progress=not args.quiet,
        origin=started_from,
    )
    cache = CheckCache(
        args.cache,
        params.audio.sample_rate,
        params.features.min_samples,
        params.audio.max_seconds,
        corpus=locate(corpus, started_from),
    )
    try:
        result = ingest(
            corpus,
            convention,
            params.data.emotions,
            sample_rate=params.audio.sample_rate,
            min_samples=params.features.min_samples,
            max_seconds=params.audio.max_seconds,
            rejected=refused,
            cache=cache,
            inside=inside,
            progress=not args.quiet,
            origin=started_from,
        )
    except IngestError as error:
        if error.result is not None:
            error.result.write_rejected(args.rejected)
        raise
    finally:
        cache.save()
    result.write_catalog(args.catalog)
    result.write_rejected(args.rejected)
    write_json(args.metrics, result.counts())
    print(
        f"ingest: {len(result.rows)} files, {len(result.rejects)} rejected "
        f"({result.duplicates} duplicates), {result.skipped} skipped (emotion not selected); "
        f"{cache.computed} decoded, {len(cache.used) - cache.computed} unchanged since they were checked"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__, progress=True)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--downloads", default="data/downloads")
    parser.add_argument("--catalog", default="data/catalog.csv")
    parser.add_argument("--rejected", default="data/rejected.csv")
    parser.add_argument("--metrics", default="metrics/ingest.json")
    parser.add_argument(
        "--cache",
        default=user_cache_dir() / "ingest",
        help="what each file's checks found, shared by every workspace of this user (default: $SER_CACHE/ingest)",
    )
    run_stage(main, parser)
