"""Profiles: YAML files describing one environment, validated strictly."""
