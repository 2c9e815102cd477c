/* The feeds page: shows the progress of a running refresh (polling its JSON), reloads the page
   when it ends, and sends the full-text choice as soon as it changes. */
(() => {
  const box = document.getElementById('refresh');
  if (box && box.dataset.running === '1') {
    const url = box.dataset.progressUrl;
    const status = box.querySelector('.refresh-status');
    const poll = async () => {
      let data;
      try {
        const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
        data = await response.json();
      } catch (e) {
        setTimeout(poll, 3000);
        return;
      }
      if (!data.running || (data.waiting ? '1' : '0') !== box.dataset.waiting) {
        window.location.reload();
        return;
      }
      const bar = status.querySelector('progress');
      if (bar) {
        bar.max = data.feeds_total || 1;
        bar.value = data.feeds_done;
      }
      const count = status.querySelector('.refresh-count');
      if (count) {
        let text = `${data.feeds_done} of ${data.feeds_total} feeds`;
        if (data.pages_total) text += `, ${data.pages_done} of ${data.pages_total} pages`;
        count.textContent = text;
      }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }
  document.querySelectorAll('form.full-text-form select').forEach((select) => {
    select.addEventListener('change', () => select.form.submit());
  });
})();
