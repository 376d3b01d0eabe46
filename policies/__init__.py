"""prodline's CrossGuard policy pack: rules as plain objects, one module per service in ``policies.rules``.

Only ``policies/__main__.py`` constructs the PolicyPack (it starts a policy server), so tests and the
offline runner import rules without one. ``policies.registry`` lists every rule; ``policies.rule`` is what
a rule is; ``policies.pack_config`` is each rule's enforcement per environment.
"""
