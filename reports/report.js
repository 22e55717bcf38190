/* The report's script, inlined in the page: sort, filter and page tables; reveal linked rows.
   Without it the page still shows every row the report holds. It loads nothing. */
(function () {
  "use strict";
  var SMALL = 10;
  var pagers = {};
  var config = { tables: {} };
  var dataNode = document.getElementById("report-data");
  if (dataNode) {
    try { config = JSON.parse(dataNode.textContent); } catch (e) { config = { tables: {} }; }
  }

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function sortValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return numeric ? -Infinity : ""; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") :
      (cell.hasAttribute("title") ? cell.getAttribute("title") : cell.textContent);
    if (numeric) {
      var number = parseFloat(raw);
      return isNaN(number) ? -Infinity : number;
    }
    return raw.trim().toLowerCase();
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function Pager(table) {
    this.table = table;
    this.body = table.tBodies[0];
    this.rows = Array.prototype.slice.call(this.body.rows);
    this.visible = this.rows.slice();
    this.pageSize = parseInt(table.getAttribute("data-page-size"), 10) || 25;
    this.page = 0;
    this.sortIndex = -1;
    this.sortDirection = 0;
    this.query = "";
    var settings = config.tables[table.id.replace(/-table$/, "")];
    this.fullTotal = settings ? settings.total : this.rows.length;
    this.headers = table.tHead ? table.tHead.rows[0].cells : [];
    this.addSortButtons();
    if (this.rows.length > Math.max(SMALL, this.pageSize)) {
      this.addControls();
    } else {
      this.pageSize = 0; /* a short table shows every row, without controls */
    }
    this.render();
  }

  Pager.prototype.addSortButtons = function () {
    var self = this;
    each(this.headers, function (th, index) {
      var button = element("button", "sort");
      button.type = "button";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        self.sort(index, th.getAttribute("data-type") === "num");
      });
    });
  };

  Pager.prototype.addControls = function () {
    var self = this;
    var wrap = this.table.parentNode;
    var controls = element("div", "controls");
    var filter = element("input");
    filter.type = "search";
    filter.placeholder = "Filter rows";
    filter.setAttribute("aria-label", "Filter the rows of this table");
    filter.addEventListener("input", function () { self.filter(filter.value); });
    var size = element("select");
    size.setAttribute("aria-label", "Rows per page");
    var sizes = [10, 25, 100, 500, 0];
    if (sizes.indexOf(this.pageSize) === -1) { sizes.unshift(this.pageSize); }
    sizes.forEach(function (n) {
      var option = element("option", "", n === 0 ? "all rows" : n + " a page");
      option.value = String(n);
      size.appendChild(option);
    });
    size.value = String(this.pageSize);
    size.addEventListener("change", function () {
      self.pageSize = parseInt(size.value, 10);
      self.page = 0;
      self.render();
    });
    controls.appendChild(filter);
    controls.appendChild(size);
    wrap.parentNode.insertBefore(controls, wrap);
    var pager = element("div", "pager");
    this.previous = element("button", "previous", "\u2039 Previous");
    this.next = element("button", "next", "Next \u203a");
    this.previous.type = "button";
    this.next.type = "button";
    this.status = element("span", "status-text");
    this.status.setAttribute("aria-live", "polite");
    this.previous.addEventListener("click", function () { self.go(self.page - 1); });
    this.next.addEventListener("click", function () { self.go(self.page + 1); });
    pager.appendChild(this.previous);
    pager.appendChild(this.status);
    pager.appendChild(this.next);
    wrap.parentNode.insertBefore(pager, wrap.nextSibling);
    this.filterInput = filter;
  };

  Pager.prototype.pages = function () {
    if (!this.pageSize) { return 1; }
    return Math.max(1, Math.ceil(this.visible.length / this.pageSize));
  };

  Pager.prototype.go = function (page) {
    this.page = Math.min(Math.max(0, page), this.pages() - 1);
    this.render();
  };

  Pager.prototype.filter = function (text) {
    this.query = text.trim().toLowerCase();
    var query = this.query;
    this.visible = query ? this.rows.filter(function (row) {
      return row.textContent.toLowerCase().indexOf(query) !== -1;
    }) : this.rows.slice();
    this.page = 0;
    this.render();
  };

  Pager.prototype.sort = function (index, numeric) {
    var direction;
    if (this.sortIndex === index) {
      direction = -this.sortDirection;
    } else {
      direction = numeric ? -1 : 1; /* numbers: largest first; text: A to Z */
    }
    this.sortIndex = index;
    this.sortDirection = direction;
    var keyed = this.rows.map(function (row, position) {
      return [sortValue(row, index, numeric), position, row];
    });
    keyed.sort(function (a, b) {
      if (a[0] < b[0]) { return -direction; }
      if (a[0] > b[0]) { return direction; }
      return a[1] - b[1];
    });
    this.rows = keyed.map(function (item) { return item[2]; });
    var fragment = document.createDocumentFragment();
    this.rows.forEach(function (row) { fragment.appendChild(row); });
    this.body.appendChild(fragment);
    each(this.headers, function (th, i) {
      th.setAttribute("aria-sort", i === index ? (direction > 0 ? "ascending" : "descending") : "none");
    });
    this.filter(this.query);
  };

  Pager.prototype.render = function () {
    var start = this.pageSize ? this.page * this.pageSize : 0;
    var end = this.pageSize ? start + this.pageSize : this.visible.length;
    var shown = {};
    var i;
    for (i = start; i < Math.min(end, this.visible.length); i += 1) { shown[i] = true; }
    this.rows.forEach(function (row) { row.hidden = true; });
    this.visible.forEach(function (row, position) { row.hidden = !shown[position]; });
    if (this.status) {
      var total = this.visible.length;
      var text = total === 0 ? "No matching rows" :
        "Rows " + (start + 1) + "\u2013" + Math.min(end, total) + " of " + total;
      if (this.query) { text += " (filtered from " + this.rows.length + ")"; }
      if (this.fullTotal > this.rows.length) {
        text += "; " + this.fullTotal.toLocaleString("en") + " in the full table";
      }
      this.status.textContent = text;
      this.previous.disabled = this.page <= 0;
      this.next.disabled = this.page >= this.pages() - 1;
    }
  };

  Pager.prototype.reveal = function (row) {
    var position = this.visible.indexOf(row);
    if (position === -1) {
      if (this.filterInput) { this.filterInput.value = ""; }
      this.filter("");
      position = this.visible.indexOf(row);
    }
    if (position !== -1 && this.pageSize) { this.go(Math.floor(position / this.pageSize)); }
  };

  function showTarget() {
    var id;
    try { id = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return; }
    if (!id) { return; }
    var target = document.getElementById(id);
    if (!target || target.tagName !== "TR") { return; }
    var table = target.closest("table");
    var pager = table ? pagers[table.id] : null;
    if (pager && target.hidden) { pager.reveal(target); }
    target.scrollIntoView({ block: "center" });
  }

  each(document.querySelectorAll("table.data[data-page-size]"), function (table) {
    pagers[table.id] = new Pager(table);
  });
  window.addEventListener("hashchange", showTarget);
  showTarget();
  document.documentElement.classList.add("js");
}());
