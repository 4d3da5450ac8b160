"""The composition root: the registry of Lupa's services, ``lupa run`` and the ``lupa`` command.

It is the only package that knows every service; services know only the kernel (``shared``),
and the kernel knows no service.
"""
