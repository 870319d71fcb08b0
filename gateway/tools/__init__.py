"""MCP tools, one module per backend service."""
