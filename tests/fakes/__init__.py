"""Wire-level fakes of cloud services that have no emulator (each says so, and why)."""
