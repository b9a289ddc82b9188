import os


def row(prefix, label, path):
    return "%s %s %s" % (prefix, label, os.path.basename(path))
