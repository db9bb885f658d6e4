// The Done page: close the popup, so Concur refreshes the form. Browsers may refuse
// (a window the user opened by hand); the page then says the window can be closed.
window.close();
