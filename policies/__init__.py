"""prodline's CrossGuard policy pack: rules as plain objects, one module per service.

Only ``policies/__main__.py`` constructs the PolicyPack (it starts a policy server), so tests and the
offline runner import rules without one.
"""
