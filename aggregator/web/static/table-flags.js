/* The flag Datasette's table.js reads, set from a data attribute instead of an inline script. */
window.DATASETTE_ALLOW_FACET = document.currentScript.dataset.allowFacet === 'true';
