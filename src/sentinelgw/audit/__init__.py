"""The audit: CloudTrail AssumeRole events joined with the session table.

``sources`` reads events (LookupEvents, S3, a folder), ``classify`` sorts them into tracked,
no_source_identity, non_sentinel_format and orphaned, ``report`` builds and renders the two
reports, and ``run`` wires them together for the CLI.
"""
