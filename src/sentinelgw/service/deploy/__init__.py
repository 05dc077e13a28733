"""Deploying the credential service: the stack, its package, the trust step, checks, IAM.

- :mod:`.spec`: what a deployment is made of (names, ARNs, Lambda settings), pure;
- :mod:`.package`: the Lambda zip, built from the installed ``sentinelgw``;
- :mod:`.cloudformation`: the deployment as a CloudFormation template;
- :mod:`.stack`: ``sentinel init tvm``, that template as one stack through a change set;
- :mod:`.trust`: the protected roles' trust policies, the step a stack cannot take;
- :mod:`.check`: ``sentinel tvm check``, what would let someone bypass the service;
- :mod:`.permissions`: the IAM each principal of a deployment needs.
"""
