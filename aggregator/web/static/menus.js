/* Datasette's "close open menus" script, moved out of the page so the CSP can forbid inline
   scripts: a click outside an open menu closes it. */
document.body.addEventListener('click', (ev) => {
  const within = ev.target.closest ? ev.target.closest('details') : null;
  document.querySelectorAll('details.nav-menu[open], details.actions-menu-links[open]')
    .forEach((details) => { if (details !== within) details.open = false; });
});
