// Concur's Launch URL behaviour: open the launch in a 400x400 popup, and refresh the form
// when the popup closes so the value the connector wrote shows.
"use strict";
(function () {
  var POPUP_NAME = "concur_launch";
  var popup = null;
  var timer = null;

  function watch() {
    if (timer !== null) {
      return;
    }
    timer = window.setInterval(function () {
      if (popup === null || popup.closed) {
        window.clearInterval(timer);
        timer = null;
        popup = null;
        document.body.classList.add("refreshing");
        window.location.reload();
      }
    }, 300);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var link = target && target.closest ? target.closest("a[data-launch]") : null;
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    var opened = window.open(link.href, POPUP_NAME, "width=400,height=400");
    var blocked = document.getElementById("popup-blocked");
    if (!opened) {
      if (blocked) {
        blocked.hidden = false;
      }
      return;
    }
    if (blocked) {
      blocked.hidden = true;
    }
    popup = opened;
    popup.focus();
    document.body.classList.add("launched");
    watch();
  });
})();

// Fetch List and Fetch Attendee, as Concur plays them: the simulator's /_sim/demo routes call
// the connector and judge its answer; a refused answer shows its findings (Concur shows a
// popup error). Everything is rendered with textContent, never as HTML.
(function () {
  function send(method, url, body) {
    var init = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () {
        return { passed: false, findings: ["The simulator answered " + response.status + "."] };
      });
    }, function () {
      return { passed: false, findings: ["The simulator did not answer."] };
    });
  }

  function showFindings(box, answer) {
    if (!box) {
      return;
    }
    box.textContent = "";
    var findings = answer.findings || [];
    if (answer.passed && findings.length === 0) {
      box.hidden = true;
      return;
    }
    var title = document.createElement("strong");
    title.textContent = answer.passed
      ? "The connector's answer has warnings:"
      : "The connector's answer was refused:";
    box.appendChild(title);
    var list = document.createElement("ul");
    findings.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
    box.appendChild(list);
    box.hidden = false;
  }

  function listOf(element) {
    return element.closest ? element.closest("[data-list]") : null;
  }

  function searchList(container) {
    var hook = container.getAttribute("data-list");
    var query = container.querySelector("[data-list-query]");
    var select = container.querySelector("[data-list-options]");
    var url = "/_sim/demo/list?report=" + encodeURIComponent(container.getAttribute("data-report")) +
      "&level=" + encodeURIComponent(container.getAttribute("data-level")) +
      "&query=" + encodeURIComponent(query ? query.value : "");
    send("GET", url).then(function (answer) {
      showFindings(container.querySelector("[data-list-findings]"), answer);
      select.textContent = "";
      var items = answer.passed ? answer.items || [] : [];
      var prompt = document.createElement("option");
      prompt.value = "";
      prompt.textContent = items.length ? "Choose a " + hook + " (" + items.length + ")" : "No matches";
      select.appendChild(prompt);
      items.forEach(function (item) {
        var option = document.createElement("option");
        option.value = item.short_code;
        option.textContent = item.short_code + " — " + item.text;
        select.appendChild(option);
      });
      select.hidden = false;
      container.setAttribute("data-loaded", String(items.length));
    });
  }

  function chooseItem(container, select) {
    if (!select.value) {
      return;
    }
    var body = {
      report: container.getAttribute("data-report"),
      level: Number(container.getAttribute("data-level")),
      short_code: select.value
    };
    send("POST", "/_sim/demo/list/choose", body).then(function (answer) {
      if (answer.passed) {
        window.location.reload();
      } else {
        showFindings(container.querySelector("[data-list-findings]"), answer);
      }
    });
  }

  function searchAttendees(form) {
    var expense = form.getAttribute("data-attendee-search");
    var section = form.closest("[data-attendees]");
    var body = { expense: expense };
    ["last_name", "first_name", "company", "title"].forEach(function (name) {
      body[name] = form.elements[name] ? form.elements[name].value : "";
    });
    send("POST", "/_sim/demo/attendees/search", body).then(function (answer) {
      showFindings(section.querySelector("[data-attendee-findings]"), answer);
      var table = section.querySelector("[data-attendee-results]");
      var rows = table.querySelector("tbody");
      rows.textContent = "";
      var attendees = answer.passed ? answer.attendees || [] : [];
      attendees.forEach(function (attendee) {
        var row = document.createElement("tr");
        row.setAttribute("data-attendee-result", attendee.external_id);
        [attendee.first_name + " " + attendee.last_name, attendee.title, attendee.company,
          attendee.external_id].forEach(function (text) {
          var cell = document.createElement("td");
          cell.textContent = text;
          row.appendChild(cell);
        });
        var cell = document.createElement("td");
        var add = document.createElement("button");
        add.type = "button";
        add.textContent = "Add";
        add.setAttribute("data-attendee-add", attendee.external_id);
        cell.appendChild(add);
        row.appendChild(cell);
        rows.appendChild(row);
      });
      table.hidden = attendees.length === 0;
      section.setAttribute("data-found", String(attendees.length));
    });
  }

  function addAttendee(button) {
    var section = button.closest("[data-attendees]");
    var body = {
      expense: section.getAttribute("data-attendees"),
      external_id: button.getAttribute("data-attendee-add")
    };
    send("POST", "/_sim/demo/attendees/add", body).then(function (answer) {
      if (answer.passed) {
        window.location.reload();
      } else {
        showFindings(section.querySelector("[data-attendee-findings]"), answer);
      }
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) {
      return;
    }
    var search = target.closest("[data-list-search]");
    if (search) {
      searchList(listOf(search));
      return;
    }
    var add = target.closest("[data-attendee-add]");
    if (add) {
      addAttendee(add);
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && target && target.hasAttribute && target.hasAttribute("data-list-query")) {
      event.preventDefault();
      searchList(listOf(target));
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute("data-list-options")) {
      chooseItem(listOf(target), target);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.hasAttribute && form.hasAttribute("data-attendee-search")) {
      event.preventDefault();
      searchAttendees(form);
    }
  });
})();

// Submit and the workflow status: Submit posts the report to the simulator (Concur then
// notifies the connector) and reloads; while the report is pending external validation the
// page polls its status and reloads once the connector has decided.
(function () {
  var POLL_MS = 1000;

  function failed(box, text) {
    if (box) {
      box.textContent = text;
      box.hidden = false;
    }
  }

  function submit(button) {
    var card = button.closest("[data-workflow]");
    var box = card ? card.querySelector("[data-submit-findings]") : null;
    button.disabled = true;
    fetch("/_sim/demo/submit", {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ report: button.getAttribute("data-submit") })
    }).then(function (response) {
      if (response.ok) {
        window.location.reload();
        return;
      }
      return response.json().then(function (answer) {
        failed(box, answer.error || "The simulator answered " + response.status + ".");
      }, function () {
        failed(box, "The simulator answered " + response.status + ".");
      }).then(function () {
        button.disabled = false;
      });
    }, function () {
      failed(box, "The simulator did not answer.");
      button.disabled = false;
    });
  }

  function poll(card) {
    var url = "/_sim/demo/workflow?report=" + encodeURIComponent(card.getAttribute("data-workflow"));
    window.setTimeout(function () {
      fetch(url, { headers: { Accept: "application/json" } }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (answer) {
        if (answer && answer.state !== card.getAttribute("data-workflow-state")) {
          window.location.reload();
        } else {
          poll(card);
        }
      }, function () {
        poll(card);
      });
    }, POLL_MS);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("[data-submit]") : null;
    if (button) {
      submit(button);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var card = document.querySelector("[data-workflow]");
    if (card && card.getAttribute("data-workflow-state") === "pending") {
      poll(card);
    }
  });
})();
