"""The web pages for people beyond the approver's gate page: the portfolio, each mission's
overview, each gate's decision dossier (HTML and PDF), and the language switch. Server-rendered,
plain links and forms: they work with JavaScript off. `router` (api/pages/router.py) gathers them."""
