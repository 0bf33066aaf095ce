"""Domain errors shared by the services; routes and the CLI translate them."""


class DomainError(Exception):
    """A rule the user's request broke; the message is fit to show them."""


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass
