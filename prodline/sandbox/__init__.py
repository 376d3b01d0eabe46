"""The offline sandbox: the same Pulumi program realized into an AWS emulator, with local runtimes.

moto's server (or a LocalStack the user points at) holds the control plane; prodline's runtimes run
what the emulator only stores, reading every definition back from it so the IaC is what gets exercised.
"""
