"""Local servers that speak protocols of services the tests cannot reach (WeCom, mail)."""
