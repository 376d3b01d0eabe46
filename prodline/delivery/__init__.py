"""Continuous delivery of an approved model version: dev -> staging -> prod through a smoke gate.

A deploy is always `pulumi up` of one stack with one pinned model version (IaC stays the source of
truth), done by an Engine (the Automation API against AWS, or the sandbox's realizer offline). Everything
else — the version and approval records, the deploy-request queue, the lifecycle events, the smoke gate —
goes through a DeliveryContext, so the same code runs in CodeBuild, on a laptop and in the sandbox.
"""
