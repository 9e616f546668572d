"""flipgen: YAML in, branded static intake journeys with the Smile Wink widget out.

Programmatic API (imported from their modules, so `import flipgen` stays cheap):
``flipgen.build.build(project, ...)``, ``flipgen.checks.check_project(open_project(...))``
and ``flipgen.server.create_app(project, ...)`` for the token endpoint.
"""

__version__ = "0.1.0"
