"""The Pulumi program: reads and validates stack config, then wires the components."""
