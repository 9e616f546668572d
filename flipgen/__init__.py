"""flipgen: YAML in, branded static intake journeys with the Smile Wink widget out."""

__version__ = "0.1.0"
