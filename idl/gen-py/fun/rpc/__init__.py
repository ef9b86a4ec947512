__all__ = ['ttypes', 'constants', 'FunServant']
