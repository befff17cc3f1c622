class GGUFFile:  # TEMPORARY placeholder
    pass
