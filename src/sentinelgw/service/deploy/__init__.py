"""Deploying the credential service: plan, apply, package, CloudFormation, checks.

- :mod:`.spec`: what a deployment is made of (names, ARNs, Lambda settings), pure;
- :mod:`.package`: the Lambda zip, built from the installed ``sentinelgw``;
- :mod:`.plan`: desired state against what the account holds, as a list of changes;
- :mod:`.apply`: carries a plan out;
- :mod:`.check`: ``sentinel tvm check``, what would let someone bypass the service;
- :mod:`.cloudformation`: the same resources as a CloudFormation template.
"""
