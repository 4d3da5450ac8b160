"""The DSAR service's web pages: the privacy officer's console (/console) and the public
request form (/request)."""
