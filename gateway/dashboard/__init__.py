"""The dashboard a person opens at ``/``: a page (static/), the JSON it polls (views.py), the few actions it offers
(actions.py) and its login (login.py), all answered through the same tools the MCP clients call (tools.py)."""
