"""The MCP server: the sandboxes as tools for LLM agents (Model Context Protocol).

One implementation, two transports. The tools are written once, on the Python SDK
(``interpreter_sdk.AsyncSandbox``, and ``interpreter_sdk.tools`` for what a model reads back),
so they reach the sandboxes the way any client does, through the HTTP API:
``interpreter mcp`` serves them over stdio against a running service (INTERPRETER_API_URL /
INTERPRETER_API_KEY), and the front end serves the same server at ``/mcp`` (streamable HTTP),
pointed at itself over loopback. This package imports no other layer of ``interpreter``.

- ``server``: the MCP server (tools, resources, errors) for any transport.
- ``tools``, ``file_tools``: each tool's description, schema and action.
- ``conversations``: a session's own sandbox (made lazily, reused, replaced, killed at the end).
- ``stdio``, ``http``: the two transports.
"""
