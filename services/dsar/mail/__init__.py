"""Mail to requesters: templates in fi/sv/en, composing a message, and the transports that
deliver it (SMTP, or ``.eml`` files when no server is configured). Knows no database; the
durable queue over ``dsar_outgoing_mail`` is ``services.dsar.service.mail``."""
