"""The oracle's scenario language: parsing (`parse`) and JSON output helpers (`jsonout`)."""
