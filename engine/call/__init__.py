"""The call runtime: the pure CallMachine, its events and actions, and the driver."""
