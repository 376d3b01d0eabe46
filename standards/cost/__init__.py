"""The monthly cost estimate of a stack's registrations, shared by ``prodline cost`` and the policy pack.

Pure Python over (type, name, inputs): no Pulumi, no network. Prices come from ``prices/<region>.json``;
usage assumptions (requests per day, data per day, run minutes) come from the caller as a ``Usage``.
"""
