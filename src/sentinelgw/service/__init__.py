"""The Sentinel credential service: one core, hosted by Lambda, ``tvm serve`` and the sandbox."""
