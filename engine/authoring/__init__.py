"""Tools for spec authors: catalog pages (docs), scaffolding (scaffold) and fixtures (fixtures)."""
