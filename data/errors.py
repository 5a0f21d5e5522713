from util.errors import UserError


class DatasetError(UserError):
    """A dataset on disk that cannot be used as it is: the message names the file and the way out."""
