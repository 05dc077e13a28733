"""The audit: CloudTrail's STS credential issuance joined with the session table.

``sources`` reads events (LookupEvents, S3, a folder; ``readers`` runs the file readers,
``decode`` and ``stream`` turn log files of any size into events), ``pipeline`` deduplicates
them, ``classify`` gives each one category
(failed, aws_service, tracked, replayed, orphaned, non_sentinel_format, no_source_identity),
``report`` builds the two reports and their JSON and CSV, ``render`` the human text,
``checks`` validates filters and fails closed, and ``run`` wires them together for the CLI.
``athena_table`` declares an organisation trail's Athena table, ``athena_sql`` is the one
query the Athena source runs and reads back as records, and ``athena`` runs it (start, poll,
page) and yields its events, an aggregated row as one event with a ``count``.

``--source`` values are parsed by ``sources.parse_source``; a new kind of source registers its
prefix in ``sources.SCHEMES`` and its reader in ``run.open_events``.

Public entry point for sources that hold raw CloudTrail record dicts (the objects of a log
file's ``{"Records": [...]}``)::

    from sentinelgw.audit.pipeline import classify_records

    classify_records(
        records: Iterable[Mapping[str, Any]],
        *,
        store: RecordLookup | None,            # SessionStore, or None
        profiles_for_role: Callable[[str], tuple[str, ...]],   # e.g. ProfileResolver
        window: Window | None = None,          # keep only events inside it
        table: str | None = None,              # named in reasons
        include_aws_service: bool = False,     # aws_service events are gaps too
        stats: ParseStats | None = None,       # counters, malformed records by index
        dedup: Deduplicator | None = None,     # merged accounts of cross-account pairs
        where: str = "records",                # names the records in malformed reports
    ) -> Iterator[ClassifiedEvent]

Records that are not one of the six issuing STS calls are passed over; malformed ones are
counted in ``stats``. Lower-level: ``pipeline.events_from_records`` gives the deduplicable
:class:`~sentinelgw.audit.events.IssuanceEvent` stream, which ``Deduplicator.filter`` and
``Classifier.classify`` consume.
"""
