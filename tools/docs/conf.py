# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx configuration of the collection's HTML documentation (tools/docs.sh, `make docs`).

The plugin, module and role pages and the guides (docs/docsite/rst/) come
from antsibull-docs. Nothing is fetched from the network (no intersphinx
inventories), so a warning is always ours.
"""

project = "meshguard.egress"
copyright = "2026, meshguard.egress developers"
title = "meshguard.egress documentation"
html_short_title = "meshguard.egress"

extensions = ["sphinx_antsibull_ext"]
root_doc = "index"

pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
default_role = "any"
nitpicky = True
