% rebase('layout.tpl')
% if damaged:
<section class="panel" id="database-damaged">
  <h2>{{_("The billing database is damaged")}}</h2>
  <p class="error-message">{{_('No call is billed until it is restored: calls are answered "error", so the dialplan\'s fail mode decides whether they go through. Restore the last automatic backup as the manual says (On the box, Recovery); the calls made since are then billed from the CDR.')}}</p>
  <ul>
  % for line in damaged:
    <li>{{line}}</li>
  % end
  </ul>
</section>
% end
% if settlements and (settlements[0] or settlements[1]):
<section class="panel" id="settle-queue">
  <h2>{{_("Settlements waiting for the central store")}}</h2>
  <p id="settle-queue-waiting">{{ngettext("{count} settlement waiting for the central store.", "{count} settlements waiting for the central store.", settlements[0]).format(count=settlements[0])}}</p>
  <p>{{_("They are kept on this box and charged, each exactly once, as soon as the central store answers. Never delete the queue file.")}}</p>
  % if settlements[1]:
  <p class="error-message" id="settle-queue-set-aside">{{ngettext("{count} settlement was refused by the central store and set aside: see billing-addon settle-queue on the box.", "{count} settlements were refused by the central store and set aside: see billing-addon settle-queue on the box.", settlements[1]).format(count=settlements[1])}}</p>
  % end
</section>
% end
% if status is None:
<div class="panel"><p class="error-message">{{_("Licensing is not available on this box.")}}</p></div>
% else:
<section class="panel">
  <h2>{{_("Activate Billing")}}</h2>
  <form method="post" action="/admin/activation" id="activation-form"
        data-confirm="{{_("Deactivate billing? No call will be billed or blocked and billing users cannot sign in until it is activated again.") if status.activated else ''}}">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="activate" value="{{'0' if status.activated else '1'}}">
    <button type="submit" class="toggle big {{'on' if status.activated else 'off'}}" role="switch"
            aria-checked="{{'true' if status.activated else 'false'}}" id="activate-switch"><span></span>{{_("On") if status.activated else _("Off")}}</button>
    <span class="state" id="billing-state">
      % if status.state == 'active' and status.licensed:
      {{_("Billing is active (licensed).")}}
      % elif status.state == 'active':
      {{_("Billing is active: free trial, {days} day(s) left.").format(days=status.days_left)}}
      % elif status.state == 'expired':
      {{_("The trial has expired and no license is uploaded: billing users cannot sign in.")}}
      % elif status.first_activation:
      {{_("Billing is deactivated: no call is billed or blocked.")}}
      % else:
      {{_("Billing has never been activated. Turning it on starts the 30-day free trial.")}}
      % end
    </span>
  </form>
</section>
<section class="panel">
  <h2>{{_("System Information")}}</h2>
  <table class="info" id="system-info">
    <tr><th>{{_("Time of first activation")}}</th><td id="first-activation">{{when_dt(status.first_activation) or '–'}}</td></tr>
    <tr><th>{{_("Time of expiration")}}</th><td id="expiration">{{_("Never Expires") if status.licensed else (when_dt(status.expiration) or '–')}}</td></tr>
    <tr><th>{{_("License Uploaded")}}</th><td id="license-uploaded">{{_("Yes") if status.licensed else _("No")}}</td></tr>
    % if getattr(status, 'license_problem', None):
    <tr><th>{{_("Stored license")}}</th><td class="error-message">{{status.license_problem}}</td></tr>
    % end
    % if getattr(status, 'trial_problem', None):
    <tr><th>{{_("Trial record")}}</th><td class="error-message" id="trial-problem">{{status.trial_problem}}</td></tr>
    % end
    % if getattr(status, 'clock_warning', None):
    <tr><th>{{_("Clock")}}</th><td class="error-message" id="clock-warning">{{status.clock_warning}}</td></tr>
    % end
  </table>
</section>
<section class="panel">
  <h2>{{_("License")}}</h2>
  <p>{{_("Download Billing Source File")}} <a href="/admin/billing.ac" class="button" id="download-ac" download>billing.ac</a></p>
  <p class="hint">{{_("Send billing.ac to your distributor or our sales team; you get a license file that only this device accepts. Keep the license file: on U20 and U50 a hard reset removes it and you upload it again.")}}</p>
  <form method="post" action="/admin/license" enctype="multipart/form-data" class="stacked" id="license-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <label for="license">{{_("License file")}}</label>
    <input type="file" id="license" name="license" required data-max-bytes="{{max_upload_kb * 1024}}" data-too-large="{{_("The file is too large (limit {kb} KB).")}}">
    <div class="buttons"><button type="submit" class="primary" id="upload-license">{{_("Upload License")}}</button></div>
  </form>
</section>
% end
