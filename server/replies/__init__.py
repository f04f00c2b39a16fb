"""Departments that answer back (职能部门处置反馈): a 转办单's reply link and the agency's replies."""
