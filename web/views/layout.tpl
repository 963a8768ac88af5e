<!DOCTYPE html>
<html lang="{{lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · {{_("Billing")}}</title>
% if get('refresh'):
<meta http-equiv="refresh" content="{{refresh}}">
% end
<link rel="stylesheet" href="/static/app.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<script src="/static/app.js" defer></script>
</head>
<body class="{{'area-admin' if role == 'admin' else 'area-billing'}}{{' read-only' if role == 'auditor' else ''}}">
<header class="top">
  <div class="brand"><img class="logo" src="/static/favicon.svg" alt="" width="26" height="26"> {{_("Billing")}}
  % if role == 'admin':
    <span class="crumb">{{_("Addons › Billing")}}</span>
  % end
  </div>
  % if menu:
  <nav class="menu" aria-label="{{_("Main menu")}}">
    % for href, label in menu:
    <a href="{{href}}" class="{{'active' if path == href or path.startswith(href + '/') else ''}}">{{_(label)}}</a>
    % end
  </nav>
  <div class="who">
    % if role == 'billing':
    <a class="currency" href="/settings" title="{{_("Currency used on every page and export")}}">{{currency_label}}</a>
    % end
    % if role in ('billing', 'manager'):
    <a class="user" href="/account/password" title="{{_("Signed in; change your password")}}">{{user}}</a>
    % else:
    <span class="user" title="{{_("Signed in")}}">{{user}}</span>
    % end
    <form method="post" action="/logout" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="linkish" id="sign-out">{{_("Sign out")}}</button>
    </form>
  </div>
  % end
</header>
<main>
  <h1>{{title}}</h1>
  % if database_damaged:
  <div class="flash flash-error" role="alert" id="database-damaged-notice">{{_("The billing database is damaged: no call is billed and nothing can be changed until it is restored from a backup.")}}</div>
  % end
  % if trial_notice:
  <div class="flash flash-error" role="status" id="trial-notice">{{trial_notice}}</div>
  % end
  % for kind, message in flashes:
  <div class="flash flash-{{kind}}" role="{{'alert' if kind == 'error' else 'status'}}">{{message}}</div>
  % end
  % if saved_form:
  <div class="flash flash-info" role="status" id="saved-form" data-action="{{saved_form.action}}"
       data-values="{{saved_values}}">{{_("Your session had ended, so this form was not sent and nothing was changed. What you typed is filled in again: check it and press its button to send it.")}}</div>
  % end
  {{!base}}
</main>
<footer>{{_("Call billing add-on")}} · <span id="zone-note">{{_("Times in {zone}").format(zone=zone_label)}}</span></footer>
</body>
</html>
